// How SD 1.x checkpoints are recognised and what a single file of one lacks (the SD 1.5 release's configs).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonObject } from '../../checkpoints/json-fields.ts';
import type { SdCheckpointProfile } from '../../checkpoints/signature.ts';
import { isOpenClipTextEncoder, scaledLinearScheduler, sd12UnetConfig, sdFileWith, sdVaeConfig } from '../stable-diffusion-checkpoint.ts';

/** A StableDiffusion* pipeline folder (not XL, not SD 3) and whether its text encoder is OpenCLIP (SD 2.x). */
export function sdFolderEncoder(className: string, dir: string): 'clip' | 'openclip' | undefined {
  if (!className.startsWith('StableDiffusion') || className.startsWith('StableDiffusionXL') || className.includes('3')) return undefined;
  const config = join(dir, 'text_encoder', 'config.json');
  return isOpenClipTextEncoder(() => (existsSync(config) ? readJsonObject(config) : undefined)) ? 'openclip' : 'clip';
}

export const sd1Checkpoint: SdCheckpointProfile = {
  id: 'sd1',
  name: 'SD 1.x',
  recogniseFile: sdFileWith('cond_stage_model.transformer.', 'an SD 1.x checkpoint (UNet, CLIP text encoder, VAE)'),
  recogniseFolder: (cls, dir) => (sdFolderEncoder(cls, dir) === 'clip' ? `an SD 1.x diffusers folder (${cls})` : undefined),
  scheduler: scaledLinearScheduler('PNDMScheduler', { skip_prk_steps: true, set_alpha_to_one: false, clip_sample: false }),
  unetConfig: () => sd12UnetConfig({ attentionHeadDim: 8, crossAttentionDim: 768, sampleSize: 64, linearProjection: false }),
  vaeConfig: () => sdVaeConfig(512, 0.18215, false),
  textEncoders: [{ prefix: 'cond_stage_model.transformer.', layout: 'hf', hiddenAct: 'quick_gelu', droppedFinalLayers: 0, withProjection: false }],
  textEncoderFolders: ['text_encoder'],
  pads: ['eos'],
  textConditioning: { penultimateLayer: false, zeroEmptyNegative: false, pooledTextEmbeds: false },
  // SD 1.x has 8 heads at every level.
  headCounts: () => 8,
};
