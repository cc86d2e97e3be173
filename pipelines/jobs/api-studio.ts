// The studio's one typed API, shared by the WebSocket bridge (`studio serve`), the Electron IPC
// bridge and the Svelte UI. Each side validates what it receives: the studio validates params,
// the UI validates results and events. Data only (zod and the jobs API's schemas), so the renderer
// can bundle this file without pulling in engine code.
import { MAX_DROPPED_FILE_BYTES } from './api-limits.ts';
import { z } from 'zod';
import { RedisQueueViewSchema } from './api-redis.ts';
import { CONTROL_PREPROCESSORS, EXECUTION_PROVIDERS, GenerateRequestSchema, HeadWeightSchema, HIRES_UPSCALERS, MAX_SEED, SAMPLER_NAMES, type HeadWeight } from './api-generate.ts';
import { HeadLayerSchema, type HeadLayer } from './api-heads.ts';
import { EmbeddedModelSchema, ModelEntrySchema, type EmbeddedModel, type ModelEntry } from './api-models.ts';
import { ImageFilesSchema, LibraryEntrySchema } from './api-library.ts';
import { BoxSchema, type BoxView } from './api-story.ts';

export { BoxSchema, EmbeddedModelSchema, HeadLayerSchema, HeadWeightSchema, ModelEntrySchema };
export type { BoxView, EmbeddedModel, HeadLayer, HeadWeight, ModelEntry };

// ---- shared shapes -------------------------------------------------------------------------------

/** The settings a PNG's metadata holds, whichever app wrote it (mirrors pipelines/metadata/settings.ts). */
export const ImportedSettingsSchema = z.object({
  source: z.enum(['studio', 'a1111', 'comfyui', 'invokeai']),
  prompt: z.string().optional(),
  negativePrompt: z.string().optional(),
  steps: z.number().optional(),
  cfgScale: z.number().optional(),
  seed: z.number().optional(),
  width: z.number().optional(),
  height: z.number().optional(),
  sampler: z.string().optional(),
  scheduler: z.string().optional(),
  studioSampler: z.enum(SAMPLER_NAMES).optional(),
  model: z.string().optional(),
  modelHash: z.string().optional(),
  denoisingStrength: z.number().optional(),
  clipSkip: z.number().optional(),
  hiresFix: z.object({ scale: z.number(), steps: z.number().optional(), upscaler: z.string().optional(), studioUpscaler: z.enum(HIRES_UPSCALERS).optional() }).optional(),
  files: ImageFilesSchema.optional(),
  controlNets: z
    .array(z.object({ module: z.string(), studioPreprocess: z.enum(CONTROL_PREPROCESSORS).optional(), model: z.string(), weight: z.number(), start: z.number(), end: z.number(), guessMode: z.boolean() }))
    .optional(),
  ipAdapter: z.object({ model: z.string(), weight: z.number() }).optional(),
});
export type ImportedSettingsView = z.infer<typeof ImportedSettingsSchema>;

export const JobStatusSchema = z.enum(['queued', 'running', 'done', 'failed', 'cancelled']);
export type JobStatus = z.infer<typeof JobStatusSchema>;

/** A ladder's stage (0 = the base) of how many, its size and its img2img strength (none for the base). */
export const LadderStageProgressSchema = z.object({ index: z.int().min(0), count: z.int().min(1), width: z.int(), height: z.int(), strength: z.number().optional() });
export const JobProgressSchema = z.object({ phase: z.string(), step: z.int().min(0), total: z.int().min(0), stage: LadderStageProgressSchema.optional() });
export type JobProgress = z.infer<typeof JobProgressSchema>;

export const JobViewSchema = z.object({
  id: z.string(),
  status: JobStatusSchema,
  prompt: z.string(),
  seed: z.number(),
  batch: z.int(),
  steps: z.int().optional(),
  heads: z.int().min(0),
  progress: JobProgressSchema.optional(),
  /** Set when the job failed or was cancelled: what happened, in words. */
  error: z.string().optional(),
  /** Output file names in the gallery. */
  images: z.array(z.string()),
  createdAt: z.number(),
});
export type JobView = z.infer<typeof JobViewSchema>;

export const QueueStateSchema = z.object({ jobs: z.array(JobViewSchema) });
export type QueueState = z.infer<typeof QueueStateSchema>;

export const GalleryImageSchema = z.object({
  /** File name inside the outputs folder (also its id). */
  name: z.string(),
  createdAt: z.number(),
  sizeBytes: z.number(),
  /** Pixel size (from the PNG header); large images are shown through their tiles. */
  width: z.int().optional(),
  height: z.int().optional(),
  settings: ImportedSettingsSchema.optional(),
  /** The studio's exact request, when the image carries the studio chunk. */
  request: z.unknown().optional(),
  warnings: z.array(z.string()),
});
export type GalleryImage = z.infer<typeof GalleryImageSchema>;

/** A gallery image's tile pyramid (GET /tiles/NAME/info.json): Deep Zoom levels 0 … levels − 1 (full size). */
export interface TileInfo {
  width: number;
  height: number;
  tileSize: number;
  levels: number;
}

/** The finest level that fits in one tile (GET /tiles/NAME/thumb.png serves its tile): a thumbnail. */
export function thumbLevel(info: TileInfo): number {
  return info.levels - 1 - Math.max(0, Math.ceil(Math.log2(Math.max(info.width, info.height) / info.tileSize)));
}

export const PreviewSchema = z.object({
  width: z.int().min(1),
  height: z.int().min(1),
  /** Interleaved 8-bit RGB, base64. */
  rgbBase64: z.string(),
});
export type Preview = z.infer<typeof PreviewSchema>;

export const ProviderReportSchema = z.object({
  provider: z.string(),
  listed: z.boolean(),
  usable: z.boolean(),
  fp16: z.boolean(),
  computeDtype: z.string(),
  reason: z.string().optional(),
});

// ---- heads: effect maps, presets, HeadHunter -----------------------------------------------------------

const seedSchema = z.int({ error: 'must be a whole number' }).min(0, { error: 'must be 0 or more' }).max(MAX_SEED);
const unitSchema = z.number({ error: 'must be a number' }).min(0, { error: 'must be from 0 to 1' }).max(1, { error: 'must be from 0 to 1' });

/** What the small previews of head tools are drawn with. */
export const HeadPreviewSchema = z.object({
  /** Absent: the default model. */
  model: z.string().min(1).optional(),
  prompt: z.string().trim().min(1, { error: 'write a prompt first: the previews are drawn from it' }),
  negative: z.string().default(''),
  seed: seedSchema,
  /** Perturbation guidance scale of the previews. */
  scale: z.number().gt(0, { error: 'must be above 0' }).max(100).default(3),
  /** Steps per preview; absent: the model's default. */
  steps: z.int().min(1).max(100).optional(),
  /** Absent: the model's default (emoji models), 1 (Stable Diffusion: previews without CFG). */
  cfg: z.number().min(0).max(100).optional(),
  /** Absent: the model's own (emoji models), euler (Stable Diffusion previews). */
  sampler: z.enum(SAMPLER_NAMES).optional(),
  /** Preview side for Stable Diffusion (default 256); the emoji models always draw 64. */
  size: z.int().min(64).max(1024).multipleOf(8, { error: 'must be a multiple of 8' }).optional(),
  /** Only these layers' heads (default: every head). */
  layers: z.array(z.int().min(0)).min(1).optional(),
  /** Where the previews run (the form's choice); absent: the CPU. */
  ep: z.enum(EXECUTION_PROVIDERS).optional(),
});
export type HeadPreviewParams = z.input<typeof HeadPreviewSchema>;

export const HeadEffectSchema = z.object({
  layer: z.int().min(0),
  head: z.int().min(0),
  /** Mean |change| over the preview, in 0..1. */
  mean: z.number(),
  /** |change| shrunk to a thumbnail, scaled so the strongest map of the set reaches 255. */
  thumbnail: PreviewSchema,
});
export type HeadEffect = z.infer<typeof HeadEffectSchema>;

export const HeadPresetSummarySchema = z.object({
  name: z.string(),
  description: z.string().optional(),
  /** The architecture it was made for. */
  family: z.string(),
  hash: z.string(),
  scale: z.number(),
  heads: z.array(HeadWeightSchema),
  /** Shipped with the studio (read-only), or in the presets folder. */
  shipped: z.boolean(),
  /** Why it cannot be used on the chosen model (another architecture, or an unreadable file). */
  problem: z.string().optional(),
});
export type HeadPresetSummary = z.infer<typeof HeadPresetSummarySchema>;

/** How a preset was found (kept in the file for the record; pipelines/heads/presets.ts adds the scores). */
export const PresetSearchSchema = z.object({
  objective: z.string(),
  rounds: z.int().min(0),
  k: z.int().min(1),
  u: unitSchema,
  size: z.int().min(8),
  prompts: z.array(z.string()),
  seeds: z.array(z.int()),
});

export const PRESET_NAME = /^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$/;

export const HuntCandidateSchema = z.object({
  /** `L3H1`: what a pick names. */
  name: z.string(),
  layer: z.int().min(0),
  head: z.int().min(0),
  /** One preview per seed. */
  images: z.array(PreviewSchema),
});
export type HuntCandidate = z.infer<typeof HuntCandidateSchema>;

export const HuntStepSchema = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('choose'),
    /** 0-based round awaiting picks. */
    round: z.int().min(0),
    /** Heads chosen in earlier rounds, and their previews: what the candidates add to. */
    current: z.array(HeadWeightSchema),
    baseline: z.array(PreviewSchema),
    candidates: z.array(HuntCandidateSchema),
  }),
  z.object({
    status: z.literal('done'),
    heads: z.array(HeadWeightSchema),
    /** Rounds that added heads. */
    rounds: z.int().min(0),
    family: z.string(),
    /** Preview side the search ran at (for the preset's record). */
    size: z.int().min(8),
  }),
]);
export type HuntStep = z.infer<typeof HuntStepSchema>;

// ---- story mode ----------------------------------------------------------------------------------------

/** A story as the UI edits it (the engine's story schema checks the rest: words in prompts, overlaps…). */
export const StoryDraftSchema = z.object({
  seed: seedSchema.optional(),
  steps: z.int().min(1).max(500).optional(),
  cfg: z.number().min(0).max(50).optional(),
  negative: z.string().optional(),
  subjects: z
    .array(z.object({ name: z.string().trim().min(1, { error: 'every subject needs a name' }), words: z.string().trim().min(1).optional(), description: z.string().trim().min(1).optional() }))
    .min(1, { error: 'a story needs at least one subject' })
    .max(8),
  scenes: z
    .array(z.object({ prompt: z.string().trim().min(1, { error: 'every scene needs a prompt' }), boxes: z.record(z.string(), BoxSchema).optional() }))
    .min(1, { error: 'a story needs at least one scene' }),
});
export type StoryDraft = z.infer<typeof StoryDraftSchema>;

// ---- methods -------------------------------------------------------------------------------------

const NoParams = z.object({}).optional();

export const apiMethods = {
  info: {
    params: NoParams,
    result: z.object({ version: z.string(), modelsDir: z.string(), outputsDir: z.string(), shell: z.enum(['browser', 'electron']) }),
  },
  listModels: {
    params: NoParams,
    result: z.object({
      modelsDir: z.string(),
      models: z.array(ModelEntrySchema),
      embedded: z.array(EmbeddedModelSchema).optional(),
      /** The shipped model a request without a model draws with. */
      defaultModel: z.string().optional(),
      /** Every file of the models folder with its A1111 hash: images find their model, LoRAs and embeddings here. */
      library: z.array(LibraryEntrySchema).optional(),
    }),
  },
  listHeads: {
    params: z.object({ model: z.string().optional() }),
    result: z.object({
      layers: z.array(HeadLayerSchema),
      /** Why the list is empty, in words for the UI. */
      message: z.string().optional(),
    }),
  },
  generate: {
    params: z.object({
      request: GenerateRequestSchema,
      heads: z.array(HeadWeightSchema).default([]),
      /** A mask painted in the mask editor (PNG, white = repaint) over the request's initImage. */
      maskPngBase64: z.string().max(Math.ceil((MAX_DROPPED_FILE_BYTES * 4) / 3) + 4, { error: 'the mask is too large' }).optional(),
    }),
    result: z.object({ jobId: z.string(), seed: z.number(), request: GenerateRequestSchema }),
  },
  /** A control image dropped or picked in the UI, kept in the outputs folder's uploads/ (named by content). */
  uploadImage: {
    params: z.object({
      name: z.string().max(1024),
      dataBase64: z.string().max(Math.ceil((MAX_DROPPED_FILE_BYTES * 4) / 3) + 4, { error: `the image is over ${MAX_DROPPED_FILE_BYTES / 1024 / 1024} MiB` }),
    }),
    /** Its path inside the outputs folder, as a ControlNet unit's `image`. */
    result: z.object({ image: z.string() }),
  },
  /** A control image through a preprocessor, as the ControlNet will see it (PNG). */
  controlPreview: {
    params: z.object({ image: z.string().min(1), preprocess: z.enum(CONTROL_PREPROCESSORS) }),
    result: z.object({ pngBase64: z.string(), width: z.int(), height: z.int() }),
  },
  cancel: {
    params: z.object({ jobId: z.string() }),
    result: z.object({ cancelled: z.boolean() }),
  },
  queue: { params: NoParams, result: QueueStateSchema },
  gallery: {
    params: z.object({ limit: z.int().min(1).max(1000).default(200) }).optional(),
    result: z.object({ images: z.array(GalleryImageSchema) }),
  },
  readImageMetadata: {
    params: z.object({
      /** The dropped file's name, used in messages. */
      name: z.string().max(1024),
      dataBase64: z.string().max(Math.ceil((MAX_DROPPED_FILE_BYTES * 4) / 3) + 4, { error: `the file is over ${MAX_DROPPED_FILE_BYTES / 1024 / 1024} MiB; drop the PNG itself` }),
    }),
    result: z.object({
      settings: ImportedSettingsSchema.optional(),
      request: z.unknown().optional(),
      warnings: z.array(z.string()),
    }),
  },
  listProviders: {
    params: z.object({ refresh: z.boolean().optional() }).optional(),
    result: z.object({
      reports: z.array(ProviderReportSchema),
      choice: z.object({ provider: z.string(), computeDtype: z.string(), message: z.string() }).optional(),
      error: z.string().optional(),
    }),
  },
  moveJob: {
    params: z.object({ jobId: z.string(), direction: z.enum(['up', 'down']) }),
    result: z.object({ moved: z.boolean() }),
  },
  /** What perturbing each head alone changes in a preview (for the head grid's thumbnails). */
  headEffects: {
    params: HeadPreviewSchema,
    result: z.object({ base: PreviewSchema, maps: z.array(HeadEffectSchema), cached: z.boolean() }),
  },
  listPresets: {
    params: z.object({ model: z.string().min(1).optional() }),
    result: z.object({ dir: z.string(), presets: z.array(HeadPresetSummarySchema) }),
  },
  /** One preset, or several composed (each head at the largest strength any gives it), checked against the model. */
  loadPresets: {
    params: z.object({ names: z.array(z.string().min(1)).min(1, { error: 'choose at least one preset' }), model: z.string().min(1).optional() }),
    result: z.object({ name: z.string(), scale: z.number(), heads: z.array(HeadWeightSchema) }),
  },
  savePreset: {
    params: z.object({
      name: z.string().regex(PRESET_NAME, { error: 'use letters, digits, spaces, dots, dashes or underscores (at most 64), starting with a letter or digit' }),
      model: z.string().min(1).optional(),
      description: z.string().optional(),
      scale: z.number().gt(0, { error: 'must be above 0' }).max(100),
      heads: z.array(HeadWeightSchema).min(1, { error: 'select at least one head' }),
      search: PresetSearchSchema.optional(),
      overwrite: z.boolean().default(false),
    }),
    result: z.object({ name: z.string(), file: z.string() }),
  },
  /**
   * HeadHunter with the user's picks, one round per call: `picks` holds the names chosen in each
   * finished round; the answer is the next round's candidates, or the result.
   */
  headHunt: {
    params: HeadPreviewSchema.omit({ seed: true }).extend({
      seeds: z.array(seedSchema).min(1).max(4),
      k: z.int().min(1).max(16),
      u: z.number().gt(0, { error: 'must be above 0' }).max(1),
      rounds: z.int().min(1).max(20),
      picks: z.array(z.array(z.string())).default([]),
    }),
    result: HuntStepSchema,
  },
  /** The Redis-backed queue of `studio worker` processes, when the studio was started with --redis. */
  redisQueue: {
    params: NoParams,
    result: RedisQueueViewSchema,
  },
  /** Queues a story (subjects kept consistent across scenes); its images land in the gallery. */
  story: {
    params: z.object({ story: StoryDraftSchema, model: z.string().min(1).optional(), ep: z.enum(EXECUTION_PROVIDERS).optional() }),
    result: z.object({ jobId: z.string(), seed: z.number() }),
  },
} as const satisfies Record<string, { params: z.ZodType; result: z.ZodType }>;

export type ApiMethods = typeof apiMethods;
export type MethodName = keyof ApiMethods;
export type ParamsOf<M extends MethodName> = z.input<ApiMethods[M]['params']>;
export type ParsedParamsOf<M extends MethodName> = z.output<ApiMethods[M]['params']>;
export type ResultOf<M extends MethodName> = z.output<ApiMethods[M]['result']>;

export const METHOD_NAMES = Object.keys(apiMethods) as MethodName[];

// ---- events --------------------------------------------------------------------------------------

export const apiEvents = {
  queue: QueueStateSchema,
  progress: z.object({ jobId: z.string(), progress: JobProgressSchema, preview: PreviewSchema.optional() }),
  image: GalleryImageSchema,
  /** What a finished job did that the user may not expect (unknown words and what was drawn instead, mapped settings). */
  notes: z.object({ jobId: z.string(), notes: z.array(z.string()) }),
  /** Progress of a head tool's previews (effect maps, HeadHunter rounds). */
  task: z.object({ task: z.enum(['headEffects', 'headHunt']), step: z.int().min(0), total: z.int().min(0) }),
  /** The engine host started, or died and is being restarted. */
  engine: z.object({ state: z.enum(['ready', 'restarting', 'failed']), message: z.string() }),
} as const satisfies Record<string, z.ZodType>;

export type ApiEvents = typeof apiEvents;
export type EventName = keyof ApiEvents;
export type EventOf<E extends EventName> = z.output<ApiEvents[E]>;

// ---- wire messages (WebSocket; Electron IPC carries the same call/event shapes) -----------------------

export const CallMessageSchema = z.object({
  type: z.literal('call'),
  id: z.int().min(0),
  method: z.string(),
  params: z.unknown(),
});
export type CallMessage = z.infer<typeof CallMessageSchema>;

export const ApiErrorSchema = z.object({
  /** `bad-request`: the params were wrong (message names the field); `failed`: the studio could not do it. */
  code: z.enum(['bad-request', 'unknown-method', 'failed']),
  message: z.string(),
});
export type ApiError = z.infer<typeof ApiErrorSchema>;

export const ServerMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('result'), id: z.int(), result: z.unknown() }),
  z.object({ type: z.literal('error'), id: z.int(), error: ApiErrorSchema }),
  z.object({ type: z.literal('event'), event: z.string(), data: z.unknown() }),
]);
export type ServerMessage = z.infer<typeof ServerMessageSchema>;

/** How a call ended, as both bridges carry it. */
export type CallOutcome = { ok: true; result: unknown } | { ok: false; error: ApiError };

/** What the desktop app's preload exposes as `window.studio`. */
export interface ElectronBridge {
  call(method: string, params: unknown): Promise<CallOutcome>;
  /** Returns the unsubscribe function. */
  onEvent(listener: (event: string, data: unknown) => void): () => void;
}
