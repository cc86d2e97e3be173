// The studio's jobs, run inside the engine host (a child process, or Electron's utility process), so
// graph building and ORT runs never block the process that serves the UI.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { TEST_ENGINE_ENV } from '../cli/engine.ts';
import { defineJob } from '../../pipelines/host/jobs.ts';
import type { RgbImage } from '../../pipelines/metadata/encode-png.ts';
import { GenerateRequestSchema, type GenerateOptions, type GenerateProgress, type GenerateRequest, type GenerateResult } from '../../pipelines/recipes/request.ts';
import { HeadWeightSchema, type HeadLayer, type HeadWeight } from './api.ts';

/** Progress as the studio reads it: the engine may attach a small preview of the current latents. */
export interface StudioProgress extends GenerateProgress {
  preview?: RgbImage;
}

export interface HeadList {
  layers: HeadLayer[];
  message?: string;
}

/** What the studio needs from an engine module: pipelines/recipes/generate.ts, or a test engine. */
export interface StudioEngine {
  runGenerate(request: GenerateRequest, options: GenerateOptions): Promise<GenerateResult>;
  /** The model's self-attention layers and their head counts, for the head grid. */
  listHeads?(query: { model?: string; modelsDir?: string }): Promise<HeadList> | HeadList;
}

const NO_HEAD_LIST =
  'The engine cannot list attention heads for this model yet, so there is nothing to select. Head selection appears here once the engine reports the model’s self-attention layers.';

let engine: Promise<StudioEngine> | undefined;

function loadEngine(): Promise<StudioEngine> {
  engine ??= (async () => {
    const override = process.env[TEST_ENGINE_ENV];
    const source = override ?? 'pipelines/recipes/generate.ts';
    const mod: Partial<StudioEngine> = override ? await import(pathToFileURL(resolve(override)).href) : await import('../../pipelines/recipes/generate.ts');
    if (typeof mod.runGenerate !== 'function') throw new Error(`${source} does not export a runGenerate function`);
    return { runGenerate: mod.runGenerate, listHeads: typeof mod.listHeads === 'function' ? mod.listHeads : undefined };
  })();
  return engine;
}

/**
 * Per-head SoftPAG strengths ride in `request.pag.heads`, where the engine's SoftPAG reads them
 * (the request schema does not list the field yet, so it is added after validation).
 */
function withHeads(request: GenerateRequest, heads: HeadWeight[]): GenerateRequest {
  if (heads.length === 0) return request;
  if (!request.pag) throw new Error('heads were selected but the request has no PAG settings: set a PAG scale above 0');
  return { ...request, pag: { ...request.pag, heads } } as GenerateRequest;
}

// ---- head tools and story mode (engine-heads.ts, engine-story.ts; loaded on first use) ----

const previewInput = {
  model: z.string().optional(),
  modelsDir: z.string().optional(),
  prompt: z.string(),
  negative: z.string(),
  scale: z.number(),
  steps: z.int().optional(),
  cfg: z.number().optional(),
  size: z.int().optional(),
  layers: z.array(z.int()).optional(),
};

const headTools = () => import('./engine-heads.ts');

const toolJobs = {
  'studio.headEffects': defineJob({
    input: z.object({ ...previewInput, seed: z.int() }),
    run: async (input, ctx) => (await headTools()).headEffects(input, { signal: ctx.signal, progress: (step, total) => ctx.progress({ step, total, message: 'head effects' }) }),
  }),

  'studio.headHunt': defineJob({
    input: z.object({ ...previewInput, seeds: z.array(z.int()).min(1), k: z.int(), u: z.number(), rounds: z.int(), picks: z.array(z.array(z.string())) }),
    run: async (input, ctx) => (await headTools()).headHunt(input, { signal: ctx.signal, progress: (step, total) => ctx.progress({ step, total, message: 'HeadHunter' }) }),
  }),

  'studio.story': defineJob({
    input: z.object({ story: z.unknown(), model: z.string().optional(), modelsDir: z.string().optional(), studioVersion: z.string() }),
    run: async (input, ctx) => {
      const { runStory } = await import('./engine-story.ts');
      return runStory(input, { signal: ctx.signal, onProgress: (p) => ctx.progress({ step: p.step, total: p.total, message: p.phase }) });
    },
  }),
};

export const jobs = {
  'studio.generate': defineJob({
    input: z.object({ request: GenerateRequestSchema, heads: z.array(HeadWeightSchema) }),
    run: async ({ request, heads }, ctx) => {
      const { runGenerate } = await loadEngine();
      const onProgress = (p: StudioProgress) => {
        const preview = p.preview && { width: p.preview.width, height: p.preview.height, pixels: p.preview.pixels };
        ctx.progress({ step: p.step, total: p.total, message: p.phase, ...(preview ? { data: { preview } } : {}) });
      };
      return runGenerate(withHeads(request, heads), { signal: ctx.signal, onProgress });
    },
  }),

  'studio.listHeads': defineJob({
    input: z.object({ model: z.string().optional(), modelsDir: z.string().optional() }),
    run: async (query): Promise<HeadList> => {
      const { listHeads } = await loadEngine();
      if (!listHeads) return { layers: [], message: NO_HEAD_LIST };
      const list = await listHeads(query);
      return list.layers.length ? list : { layers: [], message: list.message ?? NO_HEAD_LIST };
    },
  }),

  ...toolJobs,
};

export type StudioJobs = typeof jobs;
