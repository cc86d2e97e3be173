// The VAE that turns DiT/DiCo latents into pixels. Their checkpoints hold no decoder: they were trained on
// the latents of Stable Diffusion's VAE (sd-vae-ft-ema / sd-vae-ft-mse), which the user passes with --vae.
import { loadVaeOverride } from '../../checkpoints/vae-override.ts';
import { sd1Checkpoint } from '../../families/sd1/checkpoint.ts';
import { vaeConfigFromDiffusers } from '../../models/vae/config.ts';
import { Vae } from '../../models/vae/vae.ts';
import type { Provider } from '../../runtime/session.ts';
import type { ModelSessions } from '../../runtime/session-cache.ts';
import { BadRequestError } from '../../jobs/api.ts';

/** The reference decodes `samples / 0.18215` whatever the VAE's config says. */
export const DIT_LATENT_SCALE = 0.18215;

export function missingVaeMessage(model: string): string {
  return (
    `${model} draws Stable Diffusion VAE latents and holds no decoder: pass the VAE it was trained with, ` +
    'stabilityai/sd-vae-ft-ema (or sd-vae-ft-mse), with --vae PATH, where PATH is that diffusers VAE folder ' +
    '(config.json + diffusion_pytorch_model.safetensors) or its .safetensors file'
  );
}

export function loadDitVae(path: string | undefined, model: string, providers: readonly Provider[], sessions?: ModelSessions): Vae {
  if (path === undefined) throw new BadRequestError(missingVaeMessage(model));
  const base = vaeConfigFromDiffusers(sd1Checkpoint.vaeConfig(), 'built-in SD VAE config');
  let override;
  try {
    override = loadVaeOverride(path, sd1Checkpoint, base);
  } catch (e) {
    throw new BadRequestError(`--vae ${(e as Error).message.replace(/^VAE /, '')}`);
  }
  const config = { ...override.config, scalingFactor: DIT_LATENT_SCALE, shiftFactor: undefined, latentsMean: undefined, latentsStd: undefined };
  return new Vae(override.source, config, { session: { providers }, sessions });
}
