// A1111's hires fix on the Stable Diffusion pipeline: draw at the base size, upscale (the latents by
// interpolation, or the decoded pixels by Lanczos), then img2img at the larger size with the
// hires denoise as the strength and the same seed.
import sharp from 'sharp';
import { hiresSize, type HiresFix } from '../../jobs/api.ts';
import { toRgb8 } from '../images.ts';
import { upscaleLatents, type LatentMode } from '../hires/latent-upscale.ts';
import type { SdGenerateOptions, SdPipeline, SdResult } from './pipeline.ts';

const LATENT_MODES: Record<Exclude<HiresFix['upscaler'], 'lanczos'>, LatentMode> = { latent: 'bilinear', 'latent-nearest': 'nearest', 'latent-bicubic': 'bicubic' };

export async function drawWithHiresFix(pipeline: SdPipeline, base: SdGenerateOptions, hires: HiresFix, secondPass: Pick<SdGenerateOptions, 'onStep'>): Promise<SdResult> {
  const first = await pipeline.generate(base);
  const width = hiresSize(base.width, hires.scale);
  const height = hiresSize(base.height, hires.scale);
  // ControlNets steer the composition in the first pass; their images are at the base size.
  const start = { ...base, ...secondPass, width, height, steps: hires.steps ?? base.steps, strength: hires.denoise, controlNets: undefined };
  const upscaled: Partial<SdGenerateOptions> =
    hires.upscaler === 'lanczos'
      ? { initImage: await lanczos(first, width, height) }
      : { initLatents: upscaleLatents(first.latentsPerStep.at(-1)!, first.count * pipeline.vae.config.latentChannels, base.height / 8, base.width / 8, height / 8, width / 8, LATENT_MODES[hires.upscaler]) };
  const second = await pipeline.generate({ ...start, ...upscaled });
  const timings = { ...first.timings };
  for (const [k, v] of Object.entries(second.timings)) timings[`hires ${k}`] = v;
  return { ...second, timings, latentsPerStep: [...first.latentsPerStep, ...second.latentsPerStep] };
}

/** The first pass's images, 8-bit as A1111 hands them to PIL, resized with Lanczos: [n, 3, H, W] in [0, 1]. */
async function lanczos(first: SdResult, width: number, height: number): Promise<Float32Array> {
  const plane = width * height;
  const out = new Float32Array(first.count * 3 * plane);
  for (let n = 0; n < first.count; n++) {
    const img = toRgb8(first.images, n, first.width, first.height);
    const raw = await sharp(img.pixels, { raw: { width: img.width, height: img.height, channels: 3 } }).resize(width, height, { fit: 'fill', kernel: 'lanczos3' }).raw().toBuffer();
    for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) out[(n * 3 + c) * plane + p] = raw[p * 3 + c] / 255;
  }
  return out;
}
