// The story job (IR-Diffusion: the same subjects across scenes). The story's shape is checked here;
// the engine checks the rest against the model (words in prompts, box overlaps, the tokenizer). Data only.
import { z } from 'zod';
import { EXECUTION_PROVIDERS, MAX_SEED, SAMPLER_NAMES, type Rgb8 } from './api-generate.ts';

/** [left, top, right, bottom] as fractions of the image. */
export const BoxSchema = z.tuple([z.number(), z.number(), z.number(), z.number()]);
export type BoxView = z.infer<typeof BoxSchema>;

const seed = z.int().min(0).max(MAX_SEED);

/** A story as a file or the UI writes it; fields left out take the story recipe's defaults. */
export const StoryRequestSchema = z.object({
  model: z.string().min(1).optional(),
  seed: seed.optional(),
  steps: z.int().min(1).max(500).optional(),
  cfg: z.number().min(0).max(50).optional(),
  sampler: z.enum(SAMPLER_NAMES).optional(),
  width: z.int().optional(),
  height: z.int().optional(),
  negative: z.string().optional(),
  clipSkip: z.int().optional(),
  ir: z
    .object({
      dropout: z.number().optional(),
      crossAttentionLambda: z.number().optional(),
      refLogitBias: z.number().optional(),
      startStep: z.int().optional(),
      mutualFrom: z.int().optional(),
      isolation: z.boolean().optional(),
      reposition: z.boolean().optional(),
      mutualCrossAttention: z.boolean().optional(),
    })
    .optional(),
  subjects: z.array(
    z.object({
      name: z.string(),
      words: z.string().optional(),
      description: z.string().optional(),
      /** The subject's own reference image (an absolute path by the time it reaches the engine). */
      image: z.string().optional(),
      box: BoxSchema.optional(),
    }),
  ),
  scenes: z.array(
    z.object({
      prompt: z.string(),
      subjects: z.array(z.string()).optional(),
      boxes: z.record(z.string(), BoxSchema).optional(),
      seed: seed.optional(),
    }),
  ),
});
export type StoryRequest = z.infer<typeof StoryRequestSchema>;

export const StoryJobSchema = z.object({
  kind: z.literal('story'),
  story: StoryRequestSchema,
  /** Absent: the story's `model`, else the default story model. */
  model: z.string().min(1).optional(),
  modelsDir: z.string().min(1).optional(),
  /** Also draw each scene without IR (same seed), for comparison. */
  plain: z.boolean().default(false),
  ep: z.enum(EXECUTION_PROVIDERS).default('cpu'),
  /** Where the story came from (its file), for messages. */
  source: z.string().default('story'),
  /** Written into each image's metadata. */
  studioVersion: z.string(),
});

export interface StoryImageOut extends Rgb8 {
  kind: 'reference' | 'scene' | 'plain-scene';
  /** Subject index (references) or scene index. */
  index: number;
  seed: number;
  /** PNG text chunks: A1111 parameters and the whole story. */
  chunks: Array<[string, string]>;
}

export interface StoryOutput {
  seed: number;
  /** The story with every seed and box decided (re-running it gives the same set). */
  story: StoryRequest;
  /** The model as the images' metadata names it. */
  model: string;
  images: StoryImageOut[];
  notes: string[];
  timings: Record<string, number>;
  ep: string;
}
