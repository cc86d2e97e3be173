// The model scan job (the model picker's list) and what the registry of model families tells front
// ends about each family: its defaults and the methods it runs. Data only.
import { z } from 'zod';
import { SAMPLER_NAMES } from './api-generate.ts';

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

export const ModelScanJobSchema = z.object({ kind: z.literal('models.scan'), dir: z.string().min(1) });

/** What the model picker offers: the models folder, the built-in models, and the default. */
export interface ModelCatalog {
  models: ModelEntry[];
  embedded: EmbeddedModel[];
  /** The built-in model a request without a model draws with. */
  defaultModel: string;
}
