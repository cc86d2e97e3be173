// The seam between the front ends (CLI, server, desktop app) and the engine: one function that turns
// a validated request into RGB images. Without --model it draws with the embedded emoji model; a path
// is detected (Stable Diffusion 1.x / 2.x / XL) and run by its family's pipeline. The last loaded
// pipeline stays warm, so the next request on the same model skips graph building and loading.
import { existsSync, readFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { detectPath, resolveModelPath } from '../checkpoints/index.ts';
import { SdPipeline } from './sd/pipeline.ts';
import { EmojiPipeline } from './emoji/pipeline.ts';
import { DEFAULT_EMOJI_MODEL, emojiAttentionLayers, isEmojiModelName, resolveEmojiModel, type EmojiModelName } from './emoji/models.ts';
import type { ClassConditionalPipeline } from './class-conditional/pipeline.ts';
import { runClassConditional } from './class-conditional/run.ts';
import { latentPreview, readImageNchw, toRgb8 } from './images.ts';
import type { HeadPick } from '../attention/head-perturbation.ts';
import type { SelfAttentionLayer } from '../attention/self-attention.ts';
import { BadRequestError, STABLE_DIFFUSION_DEFAULTS, STABLE_DIFFUSION_SIZE, type GenerateOptions, type GenerateRequest, type GenerateResult, type GeneratedImage, type ResolvedSettings } from './request.ts';
import type { Provider } from '../runtime/session.ts';
import type { SdResult } from './sd/pipeline.ts';

/** The embedded model used without --model. */
export const DEFAULT_MODEL: EmojiModelName = DEFAULT_EMOJI_MODEL;

const NATIVE_SIZE = STABLE_DIFFUSION_SIZE;
const SD_DEFAULTS = STABLE_DIFFUSION_DEFAULTS;

type Target = { kind: 'emoji'; name: string } | { kind: 'sd'; path: string; singleFile: boolean } | { kind: 'class'; path: string; family: 'dit' | 'dico' };

let warm: { key: string; pipeline: SdPipeline | EmojiPipeline | ClassConditionalPipeline } | undefined;

async function warmPipeline<P extends SdPipeline | EmojiPipeline | ClassConditionalPipeline>(key: string, load: () => Promise<P>): Promise<P> {
  if (warm?.key === key) return warm.pipeline as P;
  const old = warm;
  warm = undefined;
  await old?.pipeline.release();
  const pipeline = await load();
  warm = { key, pipeline };
  return pipeline;
}

function resolveTarget(model: string | undefined, modelsDir: string | undefined): Target {
  if (model === undefined) return { kind: 'emoji', name: DEFAULT_MODEL };
  if (isEmojiModelName(model)) return { kind: 'emoji', name: model };
  const path = resolveModelPath(model, modelsDir);
  if (existsSync(join(path, 'config.json')) && !existsSync(join(path, 'model_index.json')) && /"architecture"\s*:\s*"emoji-/.test(readText(join(path, 'config.json')))) {
    return { kind: 'emoji', name: path };
  }
  const detection = detectPath(path);
  if (detection.family === 'dit' || detection.family === 'dico') return { kind: 'class', path, family: detection.family };
  if (detection.family !== 'sd1' && detection.family !== 'sd2' && detection.family !== 'sdxl') {
    throw new BadRequestError(`${path}: ${detection.description}; studio generate runs Stable Diffusion 1.x, 2.x and XL checkpoints, DiT / DiCo class-conditional checkpoints, and the built-in emoji-dit, emoji-lit and emoji-dico`);
  }
  return { kind: 'sd', path, singleFile: detection.layout === 'single-file' };
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function providersFor(request: GenerateRequest): Provider[] {
  return request.ep === 'cpu' ? ['cpu'] : [request.ep, 'cpu'];
}

/** Head picks for PAG given as layer names: SD layer names, or for the emoji DiTs `mid`/`blocks.K`. */
function headPicks(request: GenerateRequest, layers: readonly SelfAttentionLayer[], matchLayers: (names: readonly string[]) => number[]): { scale: number; picks: HeadPick[] } | undefined {
  const pag = request.pag;
  if (!pag || pag.scale <= 0) return undefined;
  if (pag.heads) return { scale: pag.scale, picks: pag.heads.map((h) => ({ layer: h.layer, head: h.head, u: h.strength })) };
  const picks = matchLayers(pag.layers).flatMap((layer) => Array.from({ length: layers[layer].heads }, (_, head) => ({ layer, head, u: 1 })));
  return { scale: pag.scale, picks };
}

function emojiLayerMatch(layers: readonly SelfAttentionLayer[]) {
  return (names: readonly string[]): number[] =>
    names.map((n) => {
      if (n === 'mid') return Math.floor(layers.length / 2);
      const k = /^(?:blocks\.)?(\d+)$/.exec(n);
      if (k && Number(k[1]) < layers.length) return Number(k[1]);
      throw new BadRequestError(`PAG layer "${n}" is not a block of this model: use "mid" or blocks.0 … blocks.${layers.length - 1}`);
    });
}

function toResult(r: SdResult, request: GenerateRequest, settings: ResolvedSettings, model: GenerateResult['model'], loadMs: number, notes: string[] = []): GenerateResult {
  const images: GeneratedImage[] = Array.from({ length: r.count }, (_, n) => ({ ...toRgb8(r.images, n, r.width, r.height), seed: request.seed, batchIndex: n }));
  return { images, settings, model, ep: r.provider, timings: { load: loadMs, ...r.timings }, ...(notes.length ? { notes } : {}) };
}

async function runEmoji(name: string, request: GenerateRequest, options: GenerateOptions): Promise<GenerateResult> {
  const refuse = (what: string) => {
    throw new BadRequestError(`${what} does not apply to the embedded emoji models (${basename(name)}); they draw 64×64 images with flow-matching Euler`);
  };
  if ((request.width ?? 64) !== 64 || (request.height ?? 64) !== 64) refuse(`size ${request.width ?? 64}×${request.height ?? 64}`);
  if (request.sampler !== undefined && request.sampler !== 'flow_euler') refuse(`sampler ${request.sampler}`);
  if (request.initImage !== undefined) refuse('img2img (--init-image)');
  if (request.attention.kind !== 'softmax') refuse(`--attention ${request.attention.kind}`);
  if (request.clipSkip !== 1) refuse('--clip-skip');
  if (request.vae !== undefined) refuse('--vae');
  const t0 = performance.now();
  options.onProgress?.({ phase: 'load', step: 0, total: 1 });
  const pipeline = await warmPipeline(JSON.stringify(['emoji', name, request.ep]), () => EmojiPipeline.load(name, { providers: providersFor(request) }));
  const loadMs = performance.now() - t0;
  const r = await pipeline.generate({
    prompt: request.prompt,
    negative: request.negative,
    steps: request.steps,
    cfg: request.cfg,
    seed: request.seed,
    images: request.batch,
    heads: headPicks(request, pipeline.layers, emojiLayerMatch(pipeline.layers)),
    signal: options.signal,
    onStep: (i, total, latents) => options.onProgress?.({ phase: 'denoise', step: i + 1, total, preview: latentPreview(latents, 4, 16, 16) }),
  });
  const settings: ResolvedSettings = { steps: r.settings.steps, cfg: r.settings.cfg, sampler: 'flow_euler', width: r.width, height: r.height };
  return toResult(r, request, settings, { name: pipeline.name, family: pipeline.name }, loadMs, r.notes);
}

async function runSd(target: Extract<Target, { kind: 'sd' }>, request: GenerateRequest, options: GenerateOptions): Promise<GenerateResult> {
  const t0 = performance.now();
  options.onProgress?.({ phase: 'load', step: 0, total: 1 });
  const key = JSON.stringify(['sd', target.path, request.vae, request.modelsDir, request.ep]);
  const pipeline = await warmPipeline(key, async () => SdPipeline.load(target.path, { modelsDir: request.modelsDir, vae: request.vae, providers: providersFor(request) }));
  const loadMs = performance.now() - t0;
  const native = NATIVE_SIZE[pipeline.family] ?? 512;
  const settings: ResolvedSettings = {
    steps: request.steps ?? SD_DEFAULTS.steps,
    cfg: request.cfg ?? SD_DEFAULTS.cfg,
    sampler: request.sampler ?? SD_DEFAULTS.sampler,
    width: request.width ?? native,
    height: request.height ?? native,
  };
  const { width, height } = settings;
  const initImage = request.initImage ? await readImageNchw(request.initImage, width, height) : undefined;
  const perturb = headPicks(request, pipeline.layers, (names) => pipeline.matchPagLayers(names));
  const r = await pipeline.generate({
    prompt: request.prompt,
    negative: request.negative,
    steps: settings.steps,
    cfg: settings.cfg,
    sampler: settings.sampler,
    seed: request.seed,
    width,
    height,
    images: request.batch,
    initImage,
    strength: request.strength,
    heads: perturb,
    pagAdaptiveScale: request.pag?.adaptiveScale,
    attention: request.attention,
    clipSkip: request.clipSkip,
    signal: options.signal,
    onStep: (i, total, latents) => options.onProgress?.({ phase: 'denoise', step: i + 1, total, preview: latentPreview(latents, pipeline.unetConfig.inChannels, height / 8, width / 8) }),
  });
  const model = { name: basename(target.path, extname(target.path)), file: target.singleFile ? target.path : undefined, family: pipeline.family };
  return toResult(r, request, settings, model, loadMs);
}

export async function runGenerate(request: GenerateRequest, options: GenerateOptions = {}): Promise<GenerateResult> {
  const target = resolveTarget(request.model, request.modelsDir);
  if (target.kind === 'class') return runClassConditional(target.path, target.family, request, options, warmPipeline);
  if (request.classLabel !== undefined) throw new BadRequestError(`--class ${request.classLabel} applies to class-conditional models (DiT, DiCo checkpoints); ${request.model ?? DEFAULT_MODEL} is a text-to-image model: describe the image with --prompt instead`);
  return target.kind === 'emoji' ? runEmoji(target.name, request, options) : runSd(target, request, options);
}

/** The self-attention layers of a model and their head counts (the UI's head grid, `studio heads list`). */
export async function listHeads(query: { model?: string; modelsDir?: string }): Promise<{ layers: { index: number; name: string; heads: number }[] }> {
  const target = resolveTarget(query.model, query.modelsDir);
  const layers = target.kind === 'emoji' ? emojiAttentionLayers(resolveEmojiModel(target.name).config) : SdPipeline.load(target.path, { modelsDir: query.modelsDir }).layers;
  return { layers: layers.map((l) => ({ index: l.index, name: l.name, heads: l.heads })) };
}
