// T5 encoder hyper-parameters, as HF's T5Config names them (v1.1 / SD3's t5xxl / PixArt's T5, and v1.0).
import { Fields, type JsonObject } from '../../checkpoints/json-fields.ts';

export interface T5Config {
  vocabSize: number;
  dModel: number;
  /** Width of one head (d_kv); heads·dKv need not equal dModel. */
  dKv: number;
  dFf: number;
  numLayers: number;
  numHeads: number;
  buckets: number;
  maxDistance: number;
  eps: number;
  /** v1.1: gelu_new(wi_0·x) ⊙ wi_1·x; v1.0: relu(wi·x). */
  gated: boolean;
  activation: 'gelu_tanh' | 'relu';
}

export function t5ConfigFromHf(json: JsonObject, source: string): T5Config {
  const f = new Fields(json, source);
  const proj = f.str('feed_forward_proj', 'relu');
  const gated = proj.startsWith('gated-');
  const act = gated ? proj.slice('gated-'.length) : proj;
  if (act !== 'gelu' && act !== 'relu') throw new Error(`${source}: feed_forward_proj "${proj}" is not supported (supported: gated-gelu, relu)`);
  return {
    vocabSize: f.int('vocab_size', 32128),
    dModel: f.int('d_model', 512),
    dKv: f.int('d_kv', 64),
    dFf: f.int('d_ff', 2048),
    numLayers: f.int('num_layers', 6),
    numHeads: f.int('num_heads', 8),
    buckets: f.int('relative_attention_num_buckets', 32),
    maxDistance: f.int('relative_attention_max_distance', 128),
    eps: f.num('layer_norm_epsilon', 1e-6),
    gated,
    activation: act === 'gelu' ? 'gelu_tanh' : 'relu',
  };
}

/** google/t5-v1_1-xxl, the `t5xxl` encoder of SD3 and PixArt (for checkpoints that bring no config). */
export const T5_XXL: T5Config = {
  vocabSize: 32128, dModel: 4096, dKv: 64, dFf: 10240, numLayers: 24, numHeads: 64,
  buckets: 32, maxDistance: 128, eps: 1e-6, gated: true, activation: 'gelu_tanh',
};
