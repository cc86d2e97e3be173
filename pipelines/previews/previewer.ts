// Live previews of a generation: each family picks a previewer (its own small VAE, the user's TAESD, or
// the latent→RGB map fitted through its VAE) and `stepPreviews` turns it into a recipe's onStep that
// reports progress with a picture every N steps.
import type { GenerateProgress, PreviewOptions } from '../jobs/api.ts';
import type { Vae } from '../models/vae/vae.ts';
import { applyLatentRgb, type LatentPreviewer } from './latent-rgb.ts';
import { findTaesd, taesdPreviewer, type TaesdName } from './taesd.ts';
import { vaeLatentRgb } from './vae-fit.ts';

export type { LatentPreviewer };

/** The latent→RGB map fitted through `vae` (at latent resolution). */
export function linearPreviewer(vae: Vae): LatentPreviewer {
  return async (latents, height, width) => applyLatentRgb(await vaeLatentRgb(vae), latents, height, width);
}

/** A VAE family's previewer: the TAESD decoder the request names or the models folder holds, else the fitted map. */
export function vaePreviewer(vae: Vae, taesd: TaesdName | undefined, o: { previews?: PreviewOptions; modelsDir?: string }): LatentPreviewer {
  const file = o.previews?.taesd ?? (taesd && findTaesd(taesd, o.modelsDir));
  return file ? taesdPreviewer(file, vae.config.latentChannels) : linearPreviewer(vae);
}

/**
 * A recipe's onStep: reports each denoise step, with a preview of image 0 every `every` steps and at the
 * last (`every` 0: none). The previewer is made on the first preview, so a run without previews makes none.
 */
export function stepPreviews(
  options: PreviewOptions | undefined,
  previewer: () => LatentPreviewer,
  report: ((p: GenerateProgress) => void) | undefined,
  height: number,
  width: number,
): (i: number, total: number, latents: Float32Array) => Promise<void> {
  const every = options?.every ?? 1;
  let draw: LatentPreviewer | undefined;
  return async (i, total, latents) => {
    if (!report) return;
    const step = i + 1;
    const wanted = every > 0 && (step % every === 0 || step === total);
    const preview = wanted ? await (draw ??= previewer())(latents, height, width) : undefined;
    report({ phase: 'denoise', step, total, ...(preview ? { preview } : {}) });
  };
}
