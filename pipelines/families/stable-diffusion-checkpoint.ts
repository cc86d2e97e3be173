// What the Stable Diffusion families' checkpoint profiles share: the scaled-linear schedule, the UNet
// and VAE settings common to the reference releases (SD 1.5, SD 2.1, SDXL base 1.0), and heads of
// width 64. Structural values are then replaced by what the tensors' shapes say (checkpoints/infer-config.ts).
import { configAdvice } from '../checkpoints/infer-config.ts';
import type { JsonObject } from '../checkpoints/json-fields.ts';
import type { SchedulerSpec } from '../checkpoints/signature.ts';

const SCALED_LINEAR = { num_train_timesteps: 1000, beta_start: 0.00085, beta_end: 0.012, beta_schedule: 'scaled_linear', trained_betas: null, steps_offset: 1 };

/** A release's scheduler: the scaled-linear schedule with `leading` spacing, its own settings, the prediction type. */
export function scaledLinearScheduler(className: string, settings: JsonObject): (prediction: string) => SchedulerSpec {
  return (prediction) => ({ className, config: { ...SCALED_LINEAR, ...settings, prediction_type: prediction, timestep_spacing: 'leading' } });
}

/** A single SD 1.x/2.x file: the UNet under model.diffusion_model. and the text encoder under `textPrefix`. */
export function sdFileWith(textPrefix: string, description: string): (keys: readonly string[]) => string | undefined {
  return (keys) => (has(keys, 'model.diffusion_model.') && has(keys, textPrefix) ? description : undefined);
}

export const UNET_COMMON: JsonObject = {
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

/** The UNet of SD 1.x and 2.x: four levels of 320–1280 channels, the last without attention. */
export function sd12UnetConfig(o: { attentionHeadDim: number | number[]; crossAttentionDim: number; sampleSize: number; linearProjection: boolean }): JsonObject {
  return {
    ...UNET_COMMON,
    attention_head_dim: o.attentionHeadDim,
    block_out_channels: [320, 640, 1280, 1280],
    cross_attention_dim: o.crossAttentionDim,
    down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
    up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
    sample_size: o.sampleSize,
    use_linear_projection: o.linearProjection,
    upcast_attention: false,
  };
}

export function sdVaeConfig(sampleSize: number, scalingFactor: number, forceUpcast: boolean): JsonObject {
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
    sample_size: sampleSize,
    scaling_factor: scalingFactor,
    force_upcast: forceUpcast,
  };
}

/** Heads of width 64 (SD 2.x, SDXL). */
export function headsOfWidth64(channels: readonly number[], source: string): number[] {
  if (channels.some((c) => c % 64 !== 0)) {
    throw new Error(`${source}: cannot tell the UNet's attention head counts (channels ${channels} are not multiples of the usual head width 64); ${configAdvice(source)}`);
  }
  return channels.map((c) => c / 64);
}

export const has = (keys: readonly string[], prefix: string): boolean => keys.some((k) => k.startsWith(prefix));

/** SD 2.x's OpenCLIP-H encoder uses exact GELU; SD 1.x's CLIP-L quick_gelu. Width is the fallback for odd configs. */
export function isOpenClipTextEncoder(readConfig: () => JsonObject | undefined): boolean {
  const cfg = readConfig();
  if (!cfg) return false;
  if (typeof cfg.hidden_act === 'string') return cfg.hidden_act === 'gelu';
  return cfg.hidden_size === 1024;
}
