// The upscale job: an image made larger by an upscaler. `upscaler` is a tagged union so other kinds join it
// beside the models users own (ESRGAN / Real-ESRGAN files), e.g. an SD-based upscaler that takes a
// checkpoint and a prompt. Data only (zod and types), so the renderer may import it.
import { z } from 'zod';
import { EXECUTION_PROVIDERS, type Rgb8 } from './api-generate.ts';

/** A super-resolution network file the user has (.pth or .safetensors): RRDBNet (ESRGAN, Real-ESRGAN), SRVGG or SwinIR. */
export const UpscalerModelSchema = z.strictObject({
  kind: z.literal('model'),
  file: z.string().min(1),
});

export const UpscalerSchema = z.discriminatedUnion('kind', [UpscalerModelSchema]);
export type Upscaler = z.output<typeof UpscalerSchema>;

/** Default tile side in input pixels (A1111's ESRGAN tile) and its overlap. */
export const DEFAULT_UPSCALE_TILE = 192;
export const DEFAULT_UPSCALE_OVERLAP = 16;

export const UpscaleJobSchema = z
  .strictObject({
    kind: z.literal('upscale'),
    /** The image file to enlarge. */
    image: z.string().min(1),
    upscaler: UpscalerSchema,
    /** Output size over input size; absent: the upscaler's own scale. Other scales resize its output (Lanczos). */
    scale: z.number().min(1, { error: 'must be at least 1 (the upscalers enlarge)' }).max(16, { error: 'at most 16' }).optional(),
    /** Tile side in input pixels (0: the whole image at once); tiles overlap and are blended, so no seams show. */
    tile: z.number().int().min(0).max(8192).default(DEFAULT_UPSCALE_TILE),
    overlap: z.number().int().min(0).max(1024).default(DEFAULT_UPSCALE_OVERLAP),
    ep: z.enum(EXECUTION_PROVIDERS, { error: `must be one of: ${EXECUTION_PROVIDERS.join(' ')}` }).default('cpu'),
  })
  .superRefine((j, ctx) => {
    if (j.tile > 0 && j.tile < 16) ctx.addIssue({ code: 'custom', path: ['tile'], message: 'must be 0 (no tiling) or at least 16 pixels' });
    if (j.tile > 0 && j.overlap >= j.tile / 2) ctx.addIssue({ code: 'custom', path: ['overlap'], message: `must be under half the tile (${j.tile / 2})` });
  });
export type UpscaleJob = z.output<typeof UpscaleJobSchema>;

export interface UpscaleResult {
  image: Rgb8;
  upscaler: { name: string; architecture: string; scale: number };
  /** What the output is over the input (the requested scale, or the upscaler's). */
  scale: number;
  tiles: number;
  ep: string;
  notes?: string[];
}
