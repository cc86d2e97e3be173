// emoji-DiT's attention layers (training/emoji/dit.py): softmax self-attention over the latent
// tokens, with its identity replacement (PAG), and the cross-attention to the text tokens.
import type { T } from '../../onnx/graph.ts';
import { linear } from '../../onnx/nn.ts';
import * as op from '../../onnx/ops.ts';
import type { Weights } from '../../onnx/weights.ts';
import { rows, type SelfAttentionResult } from '../../attention/self-attention.ts';

/**
 * `attn.qkv` → q, k, v of width C each; heads are contiguous feature slices. With `identity` every
 * token attends only to itself (PAG): the heads are V and q, k are never used.
 */
export function softmaxSelfAttention(w: Weights, a: T, heads: number, identity = false): SelfAttentionResult {
  const channels = a.dim(-1);
  const [q, k, v] = op.split(linear(w.sub('qkv'), a, 3 * channels), -1, [channels, channels, channels]);
  return {
    heads: identity ? v : op.multiHeadAttention(q, k, v, heads),
    value: (start, count) => rows(v, start, count),
    project: (o) => linear(w.sub('proj'), o, channels),
  };
}

/** q from the image tokens, k and v from `kv_linear(text)`; `textBias` from keyMaskBias; then `proj`. */
export function crossAttention(w: Weights, h: T, text: T, textBias: T, heads: number): T {
  const channels = h.dim(-1);
  const q = linear(w.sub('q_linear'), h, channels);
  const [k, v] = op.split(linear(w.sub('kv_linear'), text, 2 * channels), -1, [channels, channels]);
  return linear(w.sub('proj'), op.multiHeadAttention(q, k, v, heads, { attentionBias: textBias }), channels);
}
