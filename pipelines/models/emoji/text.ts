// emoji-text: a 2-layer pre-LN transformer over word ids (training/ARCHITECTURE.md § emoji-text).
// ids int32 [B, L] → tokens [B, L, dim], pooled [B, dim] (the <bos> row), mask [B, L] (1 = word).
import { Graph, type DType, type T } from '../../onnx/graph.ts';
import { layerNorm, linear } from '../../onnx/nn.ts';
import * as op from '../../onnx/ops.ts';
import { Weights, type TensorSource } from '../../onnx/weights.ts';
import type { EmojiTextConfig } from './config.ts';
import { keyMaskBias } from './key-mask.ts';

export interface EmojiTextGraphOptions {
  /** Static batch size; symbolic (any batch) when left out. */
  batch?: number;
  /** Compute dtype; inputs and outputs stay int32/float32 either way. */
  dtype?: DType;
}

function textLayer(w: Weights, x: T, bias: T, c: EmojiTextConfig): T {
  const h = layerNorm(w.sub('norm1'), x, c.layer_norm_eps);
  const [q, k, v] = op.split(linear(w.sub('attn.qkv'), h, 3 * c.dim), -1, [c.dim, c.dim, c.dim]);
  const attn = op.multiHeadAttention(q, k, v, c.heads, { attentionBias: bias });
  x = op.add(x, linear(w.sub('attn.proj'), attn, c.dim));
  const mlp = linear(w.sub('mlp.fc2'), op.gelu(linear(w.sub('mlp.fc1'), layerNorm(w.sub('norm2'), x, c.layer_norm_eps), c.mlp_hidden), 'tanh'), c.dim);
  return op.add(x, mlp);
}

export function buildEmojiTextGraph(source: TensorSource, c: EmojiTextConfig, o: EmojiTextGraphOptions = {}): Graph {
  const dtype = o.dtype ?? 'float32';
  const g = new Graph('emoji-text');
  const w = new Weights(g, source, dtype);
  const len = c.max_len;
  const ids = g.input('ids', 'int32', [o.batch ?? 'batch', len]);
  const zero = g.constant('float32', [], Float32Array.of(0), 'zero');
  const isWord = op.where(op.equal(ids, c.special_tokens.pad), zero, op.scalar(zero, 1));
  const bias = keyMaskBias(isWord, len, dtype);
  let x = op.add(op.gather(w.get('token_embedding.weight', [c.vocab_size, c.dim]), ids, 0), w.get('position_embedding', [len, c.dim]));
  for (let l = 0; l < c.layers; l++) x = g.scope(`layers.${l}`, () => textLayer(w.sub(`layers.${l}`), x, bias, c));
  const tokens = layerNorm(w.sub('final_norm'), x, c.layer_norm_eps);
  const pooled = op.squeeze(op.slice(tokens, [1], [0], [1]), [1]);
  g.output(op.cast(tokens, 'float32'), 'tokens');
  g.output(op.cast(pooled, 'float32'), 'pooled');
  g.output(isWord, 'mask');
  return g;
}
