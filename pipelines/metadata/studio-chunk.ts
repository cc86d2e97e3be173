// The studio's own PNG text chunk (keyword `studio`): versioned JSON holding the complete generate
// request (seed and size decided) plus which image of the batch this is, so the image can be re-run
// exactly; models are pinned by SHA-256 so another machine can find the same file.
import { z } from 'zod';
import { extractLoraTags, GenerateRequestSchema, type GenerateRequest, type ImageFiles } from '../jobs/api.ts';
import { modelLabel } from './model-label.ts';
import type { ImportedSettings } from './settings.ts';

export const STUDIO_KEYWORD = 'studio';
export const STUDIO_FORMAT = 'diffusion-studio';
export const STUDIO_METADATA_VERSION = 1;

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, { error: 'must be 64 lowercase hex digits' });

const FileRefSchema = z.object({
  name: z.string(),
  sha256: sha256.optional(),
});

export const StudioMetadataSchema = z.object({
  format: z.literal(STUDIO_FORMAT),
  version: z.literal(STUDIO_METADATA_VERSION),
  request: GenerateRequestSchema,
  image: z.object({
    batchIndex: z.int().min(0),
    seed: z.int().min(0),
    width: z.int().min(1),
    height: z.int().min(1),
  }),
  model: FileRefSchema,
  vae: FileRefSchema.optional(),
  /** LoRAs by the name their prompt tag uses, embeddings by their word: found by hash when the image is re-run. */
  loras: z.array(FileRefSchema).optional(),
  embeddings: z.array(FileRefSchema).optional(),
  /** A ladder's (HighRes's, SuperRes's) stages as they ran: size, strength (none for a text-to-image base), denoising steps, dilation. */
  stages: z.array(z.object({ width: z.int(), height: z.int(), strength: z.number().optional(), steps: z.int(), dilation: z.int().optional() })).optional(),
  engine: z.object({
    studioVersion: z.string(),
    /** The execution provider that ran. */
    ep: z.string(),
  }),
});
export type StudioMetadata = z.output<typeof StudioMetadataSchema>;

/** The request fields that must be written out, not filled in by defaults, for an exact re-run. */
const DecidedRequestSchema = z.object({ request: z.object({ seed: z.int(), width: z.int(), height: z.int() }) });

export class StudioMetadataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StudioMetadataError';
  }
}

function listIssues(issues: readonly z.core.$ZodIssue[]): string {
  return [...new Set(issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`))].join('; ');
}

export function encodeStudioMetadata(meta: StudioMetadata): string {
  const parsed = StudioMetadataSchema.safeParse(meta);
  if (!parsed.success) throw new StudioMetadataError(`cannot write the studio chunk: ${listIssues(parsed.error.issues)}`);
  return JSON.stringify(parsed.data);
}

/** Parses the `studio` chunk text; `source` names the file in errors. */
export function decodeStudioMetadata(text: string, source = 'image'): StudioMetadata {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new StudioMetadataError(`${source}: the studio chunk is not valid JSON (${(e as Error).message})`);
  }
  const version = (raw as { version?: unknown } | null)?.version;
  if (typeof version === 'number' && version > STUDIO_METADATA_VERSION) {
    throw new StudioMetadataError(
      `${source} was written by a newer Diffusion Studio (metadata version ${version}; this one reads up to ${STUDIO_METADATA_VERSION}): update the studio to re-run it`,
    );
  }
  const decided = DecidedRequestSchema.safeParse(raw);
  const parsed = StudioMetadataSchema.safeParse(raw);
  if (!decided.success || !parsed.success) {
    const issues = listIssues([...(decided.error?.issues ?? []), ...(parsed.error?.issues ?? [])]);
    throw new StudioMetadataError(`${source}: the studio chunk does not match metadata version ${STUDIO_METADATA_VERSION} (${issues})`);
  }
  return parsed.data;
}

/** The request that re-creates the batch this image came from (pick `image.batchIndex` from it). */
export function requestFromStudioMetadata(meta: StudioMetadata): GenerateRequest {
  return meta.request;
}

/** The image's model, LoRAs (request.loras, then prompt tags, as their hashes are keyed) and embeddings. */
export function studioImageFiles(meta: StudioMetadata): ImageFiles {
  const hashOf = (name: string) => meta.loras?.find((r) => r.name === name)?.sha256;
  const asked = [...(meta.request.loras ?? []), ...extractLoraTags(meta.request.prompt).loras];
  return {
    model: { name: meta.model.name, hash: meta.model.sha256 },
    loras: asked.map((l) => ({ name: modelLabel(l.name), weight: l.weight, hash: hashOf(modelLabel(l.name)) })),
    embeddings: (meta.embeddings ?? []).map((e) => ({ name: e.name, hash: e.sha256 })),
  };
}

export function settingsFromStudioMetadata(meta: StudioMetadata): ImportedSettings & { source: 'studio' } {
  const r = meta.request;
  return {
    source: 'studio',
    prompt: r.prompt,
    negativePrompt: r.negative,
    steps: r.steps,
    cfgScale: r.cfg,
    seed: meta.image.seed,
    // The size it was drawn at: the image's, or the base size of a hires fix.
    width: r.width ?? meta.image.width,
    height: r.height ?? meta.image.height,
    sampler: r.sampler,
    studioSampler: r.sampler,
    model: meta.model.name,
    modelHash: meta.model.sha256?.slice(0, 10),
    denoisingStrength: r.strength,
    clipSkip: r.clipSkip,
    files: studioImageFiles(meta),
  };
}
