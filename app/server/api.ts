// The studio's one typed API, shared by the WebSocket bridge (`studio serve`), the Electron IPC
// bridge and the Svelte UI. Each side validates what it receives: the studio validates params,
// the UI validates results and events. Only zod and the request schema are imported here, so the
// renderer can bundle this file without pulling in engine code.
import { z } from 'zod';
import { GenerateRequestSchema, SAMPLER_NAMES } from '../../pipelines/recipes/request.ts';

// ---- shared shapes -------------------------------------------------------------------------------

/** One attention head perturbed with SoftPAG strength u: (1-u)·attention + u·V. */
import { HeadWeightSchema, type HeadWeight } from '../../pipelines/recipes/request.ts';
export { HeadWeightSchema, type HeadWeight };

export const HeadLayerSchema = z.object({
  index: z.int().min(0),
  /** diffusers module name, e.g. `mid_block.attentions.0.transformer_blocks.0.attn1`. */
  name: z.string(),
  heads: z.int().min(1),
});
export type HeadLayer = z.infer<typeof HeadLayerSchema>;

export const ModelEntrySchema = z.object({
  name: z.string(),
  path: z.string(),
  kind: z.enum(['file', 'folder']),
  /** Guessed from tensor names; absent when the file could not be read or is not recognised. */
  family: z.string().optional(),
  /** What the studio can run on it: attention variants and guidance methods. */
  methods: z.array(z.string()),
  sizeBytes: z.number().nonnegative(),
  /** Why the entry cannot be used, when it cannot. */
  problem: z.string().optional(),
});
export type ModelEntry = z.infer<typeof ModelEntrySchema>;

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
});
export type ImportedSettingsView = z.infer<typeof ImportedSettingsSchema>;

export const JobStatusSchema = z.enum(['queued', 'running', 'done', 'failed', 'cancelled']);
export type JobStatus = z.infer<typeof JobStatusSchema>;

export const JobProgressSchema = z.object({ phase: z.string(), step: z.int().min(0), total: z.int().min(0) });
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
  settings: ImportedSettingsSchema.optional(),
  /** The studio's exact request, when the image carries the studio chunk. */
  request: z.unknown().optional(),
  warnings: z.array(z.string()),
});
export type GalleryImage = z.infer<typeof GalleryImageSchema>;

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

// ---- methods -------------------------------------------------------------------------------------

const NoParams = z.object({}).optional();

export const apiMethods = {
  info: {
    params: NoParams,
    result: z.object({ version: z.string(), modelsDir: z.string(), outputsDir: z.string(), shell: z.enum(['browser', 'electron']) }),
  },
  listModels: {
    params: NoParams,
    result: z.object({ modelsDir: z.string(), models: z.array(ModelEntrySchema) }),
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
      /** A GenerateRequestInput; validated with GenerateRequestSchema so the errors name the field. */
      request: z.unknown(),
      heads: z.array(HeadWeightSchema).default([]),
    }),
    result: z.object({ jobId: z.string(), seed: z.number(), request: z.unknown() }),
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
      name: z.string(),
      dataBase64: z.string(),
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

/** Re-exported so callers validate generate requests with the engine's own schema. */
export { GenerateRequestSchema };
