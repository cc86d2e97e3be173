// How SDXL checkpoints are recognised and what a single file of one lacks (the SDXL base 1.0 configs).
import type { SdCheckpointProfile } from '../../checkpoints/signature.ts';
import { has, headsOfWidth64, scaledLinearScheduler, sdVaeConfig, UNET_COMMON } from '../stable-diffusion-checkpoint.ts';

export const sdxlCheckpoint: SdCheckpointProfile = {
  id: 'sdxl',
  name: 'SDXL',
  recogniseFile: (keys) =>
    has(keys, 'model.diffusion_model.') && has(keys, 'conditioner.embedders.1.model.') ? 'an SDXL checkpoint (UNet, two text encoders, VAE)' : undefined,
  recogniseFolder: (cls) => (cls.startsWith('StableDiffusionXL') ? `an SDXL diffusers folder (${cls})` : undefined),
  scheduler: scaledLinearScheduler('EulerDiscreteScheduler', { interpolation_type: 'linear', use_karras_sigmas: false }),
  unetConfig: () => ({
    ...UNET_COMMON,
    addition_embed_type: 'text_time',
    addition_time_embed_dim: 256,
    projection_class_embeddings_input_dim: 2816,
    attention_head_dim: [5, 10, 20],
    block_out_channels: [320, 640, 1280],
    cross_attention_dim: 2048,
    down_block_types: ['DownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D'],
    up_block_types: ['CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'UpBlock2D'],
    transformer_layers_per_block: [1, 2, 10],
    sample_size: 128,
    use_linear_projection: true,
    upcast_attention: false,
  }),
  vaeConfig: () => sdVaeConfig(1024, 0.13025, true),
  textEncoders: [
    { prefix: 'conditioner.embedders.0.transformer.', layout: 'hf', hiddenAct: 'quick_gelu', droppedFinalLayers: 0, withProjection: false },
    { prefix: 'conditioner.embedders.1.model.', layout: 'openclip', hiddenAct: 'gelu', droppedFinalLayers: 0, withProjection: true },
  ],
  textEncoderFolders: ['text_encoder', 'text_encoder_2'],
  pads: ['eos', '!'],
  textConditioning: { penultimateLayer: true, zeroEmptyNegative: true, pooledTextEmbeds: true },
  headCounts: headsOfWidth64,
};
