// `--vae`: a VAE to use instead of the model's own. Accepts an original-layout VAE file (the common
// `*.vae.safetensors`), a diffusers-layout VAE file, a full checkpoint (its `first_stage_model.*`),
// or a diffusers VAE folder.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SafetensorsFile } from '../io/safetensors.ts';
import { vaeConfigFromDiffusers, type VaeConfig } from '../models/vae/config.ts';
import { componentWeights } from './diffusers-folder.ts';
import type { SdCheckpointProfile } from './signature.ts';
import { resolveVaeConfig } from './infer-config.ts';
import { readJsonObject } from './json-fields.ts';
import { VAE_PREFIX, originalVae } from './single-file.ts';
import { withoutPrefix, type KeyedSource } from './sources.ts';

export interface VaeOverride {
  source: KeyedSource;
  config: VaeConfig;
}

function vaeFile(path: string): KeyedSource {
  const file = SafetensorsFile.open(path);
  const keys = file.keys();
  const prefix = keys.some((k) => k.startsWith(VAE_PREFIX)) ? VAE_PREFIX : keys.some((k) => k.startsWith('vae.')) ? 'vae.' : '';
  if (keys.some((k) => k.startsWith(`${prefix}encoder.down_blocks.`) || k.startsWith(`${prefix}decoder.up_blocks.`))) {
    return prefix ? withoutPrefix(file, prefix) : file;
  }
  if (keys.some((k) => k.startsWith(`${prefix}decoder.up.`))) return originalVae(file, prefix);
  throw new Error(`${path}: given as a VAE, but it holds no VAE decoder (no decoder.up.* or decoder.up_blocks.* tensors)`);
}

/**
 * The VAE at `path`, configured like `base` (the model's own VAE config: scaling factor and norm groups
 * belong to the family) except where its tensors' shapes say otherwise. Its latent channels must match.
 */
export function loadVaeOverride(path: string, profile: Pick<SdCheckpointProfile, 'id' | 'vaeConfig'>, base: VaeConfig): VaeOverride {
  if (!existsSync(path)) throw new Error(`VAE ${path}: no such file or folder`);
  let source: KeyedSource;
  let config: VaeConfig;
  if (statSync(path).isDirectory()) {
    source = componentWeights(path, 'diffusion_pytorch_model');
    config = vaeConfigFromDiffusers(readJsonObject(join(path, 'config.json')), join(path, 'config.json'));
  } else {
    source = vaeFile(path);
    const shaped = resolveVaeConfig(source, profile);
    config = { ...shaped, scalingFactor: base.scalingFactor, shiftFactor: base.shiftFactor, latentsMean: base.latentsMean, latentsStd: base.latentsStd, normNumGroups: base.normNumGroups, forceUpcast: base.forceUpcast };
  }
  if (config.latentChannels !== base.latentChannels) {
    throw new Error(`VAE ${path} has ${config.latentChannels} latent channels but the model's UNet works on ${base.latentChannels}: it is a VAE for another model family`);
  }
  return { source, config };
}
