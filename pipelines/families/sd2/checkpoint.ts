// How SD 2.x checkpoints are recognised and what a single file of one lacks (the SD 2.1 release's
// configs); its single files often hide v-prediction, told from a weight statistic.
import type { SdCheckpointProfile } from '../../checkpoints/signature.ts';
import { sdFolderEncoder } from '../sd1/checkpoint.ts';
import { headsOfWidth64, scaledLinearScheduler, sd12UnetConfig, sdFileWith, sdVaeConfig } from '../stable-diffusion-checkpoint.ts';

export const sd2Checkpoint: SdCheckpointProfile = {
  id: 'sd2',
  name: 'SD 2.x',
  recogniseFile: sdFileWith('cond_stage_model.model.', 'an SD 2.x checkpoint (UNet, OpenCLIP text encoder, VAE)'),
  recogniseFolder: (cls, dir) => (sdFolderEncoder(cls, dir) === 'openclip' ? `an SD 2.x diffusers folder (${cls})` : undefined),
  scheduler: scaledLinearScheduler('DDIMScheduler', { set_alpha_to_one: false, clip_sample: false }),
  unetConfig: () => sd12UnetConfig({ attentionHeadDim: [5, 10, 20, 20], crossAttentionDim: 1024, sampleSize: 96, linearProjection: true }),
  vaeConfig: () => sdVaeConfig(768, 0.18215, false),
  textEncoders: [{ prefix: 'cond_stage_model.model.', layout: 'openclip', hiddenAct: 'gelu', droppedFinalLayers: 1, withProjection: false }],
  textEncoderFolders: ['text_encoder'],
  pads: ['!'],
  textConditioning: { penultimateLayer: false, zeroEmptyNegative: false, pooledTextEmbeds: false },
  headCounts: headsOfWidth64,
  predictionFromWeights: true,
  // diffusers' SD 2.x v-models (768²) upcast attention; the ε base models work at 512².
  unetForPrediction: (unet, prediction) => {
    unet.sample_size = prediction === 'v_prediction' ? 96 : 64;
    unet.upcast_attention = prediction === 'v_prediction';
  },
};
