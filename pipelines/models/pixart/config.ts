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
  /** PixArt-Σ's key/value token compression (its own `kv_compress_config`); undefined: off. */
  kvCompress?: KvCompress;
}

export const KV_SAMPLINGS = ['conv', 'ave', 'uniform', 'uniform_every'] as const;

/**
 * PixArt-Σ's AttentionKVCompress: in `layers`, self-attention's K and V are downsampled by `scaleFactor`
 * on the token grid (conv: a learned depthwise conv + LayerNorm; ave / uniform: every s-th row and column;
 * uniform_every: every s-th token in raster order). Queries keep every token. PixArt-Σ's own 1024 kv-compress
 * config: conv, scale 2, layers 14–27 of 28.
 */
export interface KvCompress {
  sampling: (typeof KV_SAMPLINGS)[number];
  scaleFactor: number;
  layers: readonly number[];
}

/** PixArt's `kv_compress_config` ({sampling, scale_factor, kv_compress_layer}), read from a transformer config. */
function kvCompressConfig(json: JsonObject, source: string, numLayers: number): KvCompress | undefined {
  const raw = json.kv_compress_config;
  if (raw === undefined || raw === null || json.kv_compress === false) return undefined;
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${source}: kv_compress_config must be an object {sampling, scale_factor, kv_compress_layer}`);
  const f = new Fields(raw as JsonObject, `${source} kv_compress_config`);
  if ((raw as JsonObject).sampling === null) return undefined;
  const sampling = f.str('sampling');
  if (!(KV_SAMPLINGS as readonly string[]).includes(sampling)) throw new Error(`${source}: kv_compress_config.sampling "${sampling}" is not one of PixArt-Σ's ${KV_SAMPLINGS.join(', ')}`);
  const scaleFactor = f.int('scale_factor', 1);
  if (scaleFactor < 1) throw new Error(`${source}: kv_compress_config.scale_factor must be a whole number ≥ 1 (got ${scaleFactor})`);
  const layers = f.ints('kv_compress_layer', []);
  const outside = layers.filter((l) => l < 0 || l >= numLayers);
  if (outside.length) throw new Error(`${source}: kv_compress_config.kv_compress_layer names layers ${outside.join(', ')}, but the model has layers 0–${numLayers - 1}`);
  return scaleFactor === 1 || layers.length === 0 ? undefined : { sampling: sampling as KvCompress['sampling'], scaleFactor, layers };
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
  cfg.kvCompress = kvCompressConfig(json, source, cfg.numLayers);
  const cross = f.int('cross_attention_dim', pixartWidth(cfg));
  if (cross !== pixartWidth(cfg)) throw new Error(`${source}: cross_attention_dim ${cross} must equal num_attention_heads × attention_head_dim (${pixartWidth(cfg)})`);
  return cfg;
}
