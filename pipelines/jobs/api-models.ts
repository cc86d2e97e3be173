// The model scan job (the model picker's list) and what the registry of model families tells front
// ends about each family: its defaults and the methods it runs. Data only.
import { z } from 'zod';
import { SAMPLER_NAMES } from './api-generate.ts';
import type { Library } from './api-library.ts';

/** The settings a family draws with when a request leaves them out. */
export const ModelDefaultsSchema = z.object({
  width: z.int(),
  height: z.int(),
  steps: z.int(),
  cfg: z.number(),
  sampler: z.enum(SAMPLER_NAMES),
});
export type ModelDefaults = z.infer<typeof ModelDefaultsSchema>;

export const ModelEntrySchema = z.object({
  name: z.string(),
  path: z.string(),
  kind: z.enum(['file', 'folder']),
  /** The registry's family id; absent when the file could not be read or is not recognised. */
  family: z.string().optional(),
  /** What the studio can run on it: attention variants and guidance methods. */
  methods: z.array(z.string()),
  /** Its family's defaults, when the family is known. */
  defaults: ModelDefaultsSchema.optional(),
  sizeBytes: z.number().nonnegative(),
  /** Why the entry cannot be used, when it cannot. */
  problem: z.string().optional(),
});
export type ModelEntry = z.infer<typeof ModelEntrySchema>;

/** The models shipped inside the studio (assets/models), by the names requests use. */
export const EMBEDDED_MODEL_NAMES = ['emoji-dit', 'emoji-lit', 'emoji-dico'] as const;

/** A model shipped inside the studio (the emoji models), with the settings it draws with. */
export const EmbeddedModelSchema = z.object({
  name: z.string(),
  architecture: z.string(),
  /** It has self-attention heads to select and search. */
  heads: z.boolean(),
  /** Story mode (IR-Diffusion) runs on it. */
  story: z.boolean(),
  defaults: ModelDefaultsSchema,
});
export type EmbeddedModel = z.infer<typeof EmbeddedModelSchema>;

export const ModelScanJobSchema = z.object({
  kind: z.literal('models.scan'),
  dir: z.string().min(1),
  /** Also list the library: every checkpoint, LoRA, embedding, VAE, ControlNet and upscaler (A1111 / ComfyUI layouts). */
  library: z.boolean().optional(),
  /** Hash the library's files (A1111's short hash), through the hash cache. */
  hashes: z.boolean().optional(),
  /** The hash cache file; absent: the user's cache folder. */
  hashCache: z.string().min(1).optional(),
});

/** What the model picker offers: the models folder, the built-in models, and the default. */
export interface ModelCatalog {
  models: ModelEntry[];
  embedded: EmbeddedModel[];
  /** The built-in model a request without a model draws with. */
  defaultModel: string;
  /** Asked for with `library`. */
  library?: Library;
}
