// Built-in configs of the families a single-file checkpoint can be (a single file carries no config).
// Values are those of the reference releases' diffusers folders (SD 1.5, SD 2.1, SDXL base 1.0);
// structural values are then replaced by what the tensors' shapes say (infer-config.ts).
import type { JsonObject } from './json-fields.ts';

export type SdFamily = 'sd1' | 'sd2' | 'sdxl';

const SCALED_LINEAR = { num_train_timesteps: 1000, beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', trained_betas: null, steps_offset: 1 };

export interface SchedulerSpec {
  className: string;
  config: JsonObject;
}

export function defaultScheduler(family: SdFamily, predictionType: string): SchedulerSpec {
  switch (family) {
    case 'sd1':
      return { className: 'PNDMScheduler', config: { ...SCALED_LINEAR, skip_prk_steps: true, set_alpha_to_one: false, clip_sample: false, prediction_type: predictionType, timestep_spacing: 'leading' } };
    case 'sd2':
      return { className: 'DDIMScheduler', config: { ...SCALED_LINEAR, set_alpha_to_one: false, clip_sample: false, prediction_type: predictionType, timestep_spacing: 'leading' } };
    case 'sdxl':
      return { className: 'EulerDiscreteScheduler', config: { ...SCALED_LINEAR, interpolation_type: 'linear', use_karras_sigmas: false, prediction_type: predictionType, timestep_spacing: 'leading' } };
  }
}

const UNET_COMMON: JsonObject = {
  _class_name: 'UNet2DConditionModel',
  act_fn: 'silu',
  center_input_sample: false,
  downsample_padding: 1,
  flip_sin_to_cos: true,
  freq_shift: 0,
  in_channels: 4,
  out_channels: 4,
  layers_per_block: 2,
  mid_block_scale_factor: 1,
  mid_block_type: 'UNetMidBlock2DCrossAttn',
  norm_eps: 1e-5,
  norm_num_groups: 32,
  resnet_time_scale_shift: 'default',
  time_embedding_type: 'positional',
  transformer_layers_per_block: 1,
  only_cross_attention: false,
  dual_cross_attention: false,
  class_embed_type: null,
  num_class_embeds: null,
  addition_embed_type: null,
  num_attention_heads: null,
};

export function defaultUnetConfig(family: SdFamily): JsonObject {
  switch (family) {
    case 'sd1':
      return {
        ...UNET_COMMON,
        attention_head_dim: 8,
        block_out_channels: [320, 640, 1280, 1280],
        cross_attention_dim: 768,
        down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
        up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
        sample_size: 64,
        use_linear_projection: false,
        upcast_attention: false,
      };
    case 'sd2':
      return {
        ...UNET_COMMON,
        attention_head_dim: [5, 10, 20, 20],
        block_out_channels: [320, 640, 1280, 1280],
        cross_attention_dim: 1024,
        down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
        up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
        sample_size: 96,
        use_linear_projection: true,
        upcast_attention: false,
      };
    case 'sdxl':
      return {
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
      };
  }
}

export function defaultVaeConfig(family: SdFamily): JsonObject {
  return {
    _class_name: 'AutoencoderKL',
    act_fn: 'silu',
    block_out_channels: [128, 256, 512, 512],
    down_block_types: ['DownEncoderBlock2D', 'DownEncoderBlock2D', 'DownEncoderBlock2D', 'DownEncoderBlock2D'],
    up_block_types: ['UpDecoderBlock2D', 'UpDecoderBlock2D', 'UpDecoderBlock2D', 'UpDecoderBlock2D'],
    in_channels: 3,
    out_channels: 3,
    latent_channels: 4,
    layers_per_block: 2,
    norm_num_groups: 32,
    sample_size: family === 'sd1' ? 512 : family === 'sd2' ? 768 : 1024,
    scaling_factor: family === 'sdxl' ? 0.13025 : 0.18215,
    force_upcast: family === 'sdxl',
  };
}

export interface TextEncoderDefaults {
  /** Where the encoder sits in the single file, and in which layout. */
  prefix: string;
  layout: 'hf' | 'openclip';
  hiddenAct: 'quick_gelu' | 'gelu';
  /** Layers a single file holds that diffusers' config leaves out (SD 2.x uses OpenCLIP's penultimate layer). */
  droppedFinalLayers: number;
  /** HF config.json `architectures` of the diffusers folder's encoder. */
  withProjection: boolean;
}

export function defaultTextEncoders(family: SdFamily): TextEncoderDefaults[] {
  switch (family) {
    case 'sd1':
      return [{ prefix: 'cond_stage_model.transformer.', layout: 'hf', hiddenAct: 'quick_gelu', droppedFinalLayers: 0, withProjection: false }];
    case 'sd2':
      return [{ prefix: 'cond_stage_model.model.', layout: 'openclip', hiddenAct: 'gelu', droppedFinalLayers: 1, withProjection: false }];
    case 'sdxl':
      return [
        { prefix: 'conditioner.embedders.0.transformer.', layout: 'hf', hiddenAct: 'quick_gelu', droppedFinalLayers: 0, withProjection: false },
        { prefix: 'conditioner.embedders.1.model.', layout: 'openclip', hiddenAct: 'gelu', droppedFinalLayers: 0, withProjection: true },
      ];
  }
}

/** Token padding of each family's tokenizers: `!` for OpenCLIP encoders. */
export function defaultPads(family: SdFamily): ('eos' | '!')[] {
  return family === 'sd1' ? ['eos'] : family === 'sd2' ? ['!'] : ['eos', '!'];
}
