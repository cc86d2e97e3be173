// PixArt-α / Σ hyper-parameters, as diffusers' PixArtTransformer2DModel config names them.
import { Fields, type JsonObject } from '../../checkpoints/json-fields.ts';

export interface PixArtConfig {
  heads: number;
  headDim: number;
  inChannels: number;
  /** 2·in_channels with learned sigma (the second half is the variance, unused by the samplers). */
  outChannels: number;
  numLayers: number;
  patchSize: number;
  /** Latent side the position table is laid out for (its grid is sample_size / patch_size). */
  sampleSize: number;
  /** T5's width. */
  captionChannels: number;
  /** PixArt-α conditions on resolution and aspect ratio; Σ does not. */
  additionalConditions: boolean;
  interpolationScale: number;
}

export const pixartWidth = (c: PixArtConfig): number => c.heads * c.headDim;

export function pixartConfigFromDiffusers(json: JsonObject, source: string): PixArtConfig {
  const f = new Fields(json, source);
  const norm = f.str('norm_type', 'ada_norm_single');
  if (norm !== 'ada_norm_single') throw new Error(`${source}: norm_type "${norm}" is not PixArt's ada_norm_single`);
  const sampleSize = f.int('sample_size', 128);
  const inChannels = f.int('in_channels', 4);
  const cfg: PixArtConfig = {
    heads: f.int('num_attention_heads', 16),
    headDim: f.int('attention_head_dim', 72),
    inChannels,
    outChannels: json.out_channels === null ? inChannels : f.int('out_channels', 8),
    numLayers: f.int('num_layers', 28),
    patchSize: f.int('patch_size', 2),
    sampleSize,
    captionChannels: f.int('caption_channels', 4096),
    additionalConditions: typeof json.use_additional_conditions === 'boolean' ? json.use_additional_conditions : sampleSize === 128,
    interpolationScale: typeof json.interpolation_scale === 'number' ? json.interpolation_scale : Math.max(Math.floor(sampleSize / 64), 1),
  };
  const cross = f.int('cross_attention_dim', pixartWidth(cfg));
  if (cross !== pixartWidth(cfg)) throw new Error(`${source}: cross_attention_dim ${cross} must equal num_attention_heads × attention_head_dim (${pixartWidth(cfg)})`);
  return cfg;
}
