// The head jobs: a model's self-attention layers, what perturbing each head changes (effect maps),
// and HeadHunter — driven by the user's picks round by round (the studio) or by an image objective
// (`studio heads search`). Previews use the request's own sampler and CFG. Data only.
import { z } from 'zod';
import { EXECUTION_PROVIDERS, HeadWeightSchema, MAX_SEED, SAMPLER_NAMES, type HeadWeight, type Rgb8 } from './api-generate.ts';

export const HeadLayerSchema = z.object({
  index: z.int().min(0),
  /** diffusers module name, e.g. `mid_block.attentions.0.transformer_blocks.0.attn1`. */
  name: z.string(),
  heads: z.int().min(1),
});
export type HeadLayer = z.infer<typeof HeadLayerSchema>;

const ModelChoice = {
  /** Absent: the default model. */
  model: z.string().min(1).optional(),
  modelsDir: z.string().min(1).optional(),
};

export const HeadsListJobSchema = z.object({ kind: z.literal('heads.list'), ...ModelChoice });

export interface HeadList {
  /** The model's family (its architecture fingerprint's family: `sd1`, `emoji-dit`, …). */
  family: string;
  architecture: { family: string; hash: string; heads: number[] };
  layers: HeadLayer[];
  /** Why the list is empty, in words. */
  message?: string;
  /** The one preview side the model draws, when it has one (the emoji models: 64). */
  fixedSize?: number;
}

/** `--heads PRESET|FILE|L3H1:0.5,…` (joined with +), checked against the model when one is named. */
export const HeadsResolveJobSchema = z.object({ kind: z.literal('heads.resolve'), text: z.string().min(1), ...ModelChoice });

/** What the small previews of the head tools are drawn with. */
const PreviewSettings = {
  ...ModelChoice,
  prompt: z.string(),
  negative: z.string().default(''),
  /** Perturbation guidance scale of the previews. */
  scale: z.number().gt(0, { error: 'must be above 0' }).max(100),
  /** Absent: the family's preview steps (10 for Stable Diffusion, the emoji model's own). */
  steps: z.int().min(1).max(1000).optional(),
  /** Absent: 1 for Stable Diffusion (HeadHunter searches without CFG), the emoji model's own. */
  cfg: z.number().min(0).max(100).optional(),
  /** Absent: euler for Stable Diffusion; the emoji models sample with their own flow Euler. */
  sampler: z.enum(SAMPLER_NAMES).optional(),
  /** Preview side (Stable Diffusion: default 256; the emoji models draw only their own size). */
  size: z.int().min(64).max(4096).multipleOf(8, { error: 'must be a multiple of 8' }).optional(),
  /** Only these layers' heads (default: every head). */
  layers: z.array(z.int().min(0)).min(1).optional(),
  ep: z.enum(EXECUTION_PROVIDERS).default('cpu'),
};

const seed = z.int().min(0).max(MAX_SEED);

export const HeadEffectsJobSchema = z.object({ kind: z.literal('heads.effects'), ...PreviewSettings, seed });

export interface HeadEffects {
  base: Rgb8;
  maps: Array<{ layer: number; head: number; mean: number; thumbnail: Rgb8 }>;
}

/** The image objectives HeadHunter can score previews with (pipelines/heads/objectives.ts). */
export const HEAD_OBJECTIVE_NAMES = ['sharpness', 'contrast', 'colourfulness', 'reference'] as const;

/** How HeadHunter judges candidates: the user's picks (one round per job), or an image objective. */
export const HeadSearchObjectiveSchema = z.discriminatedUnion('kind', [
  /** Names chosen in each finished round (an empty list ends the search). */
  z.object({ kind: z.literal('picks'), picks: z.array(z.array(z.string())) }),
  z.object({
    kind: z.literal('image'),
    name: z.enum(HEAD_OBJECTIVE_NAMES),
    /** The image the `reference` objective gets close to. */
    reference: z.string().min(1).optional(),
    /** Scores so far (resumable); absent: not kept. */
    cacheFile: z.string().min(1).optional(),
    /** Make the result a head preset with this name. */
    preset: z.object({ name: z.string().min(1) }).optional(),
  }),
]);

export const HeadSearchJobSchema = z.object({
  kind: z.literal('heads.search'),
  ...PreviewSettings,
  seeds: z.array(seed).min(1),
  k: z.int().min(1),
  u: z.number().gt(0).max(1),
  rounds: z.int().min(1),
  objective: HeadSearchObjectiveSchema,
});

export type HeadSearchResult =
  | { status: 'choose'; round: number; current: HeadWeight[]; baseline: Rgb8[]; candidates: Array<{ name: string; layer: number; head: number; images: Rgb8[] }> }
  | {
      status: 'done';
      heads: HeadWeight[];
      /** Rounds that added heads. */
      rounds: number;
      family: string;
      architecture: { family: string; hash: string; heads: number[] };
      /** Preview side the search ran at. */
      size: number;
      /** The objective with its parameters (`sharpness`, `reference:64x64:…`). */
      objective: string;
      /** Objective scores: `none`, `allHeads`, `roundN` (image objectives). */
      scores: Record<string, number>;
      roundsAdded: Array<{ added: string[]; score?: number }>;
      renders: number;
      cachedEvaluations: number;
      /** The head preset file's content, when the job asked for one. */
      preset?: HeadPresetJson;
    };

/** A head preset as its JSON file holds it (pipelines/heads/presets.ts checks it when read). */
export interface HeadPresetJson {
  name: string;
  heads: Array<{ layer: number; head: number; u: number }>;
  [field: string]: unknown;
}
