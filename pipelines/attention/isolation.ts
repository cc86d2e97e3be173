// IR-Diffusion's Isolation Attention (research/seed-guidance.md §3.4): in a multi-subject image, a
// query token of subject i never attends to a key token of another subject j. Background tokens, and
// keys of the query's own subject, are untouched. The official code adds finfo.min to the logits
// wherever query ∈ M_i and key ∈ M_j (i ≠ j); here the same pattern is an additive `attention_bias`.
//
// Model-agnostic: everything works on [B, tokens, C] with the token grid given by the caller, so a
// UNet layer and a DiT block use it alike. Subject masks arrive as a graph input [subjects, tokens]
// (1 inside the subject, 0 elsewhere) at the layer's own grid; the bias is built from them in the
// graph, once per grid, so the masks can change from image to image without rebuilding.
import type { DType, T } from '../onnx/graph.ts';
import * as op from '../onnx/ops.ts';

export interface TokenGrid {
  height: number;
  width: number;
}

/** The logit added where attention is forbidden: the compute dtype's lowest value (finfo.min). */
export function maskedLogit(dtype: DType): number {
  return dtype === 'float16' ? -65504 : -3.4028234663852886e38;
}

/**
 * The isolation bias [tokens, tokens] from subject masks [subjects, tokens] (0/1, any float dtype):
 * maskedLogit where the query lies in some subject i and the key in a different subject j, else 0.
 * Σ_{i≠j} m_i ⊗ m_j is computed as (Σ m)⊗(Σ m) − Σ m_i ⊗ m_i, counts of forbidden pairs.
 */
export function isolationBias(masks: T, dtype: DType): T {
  const m = op.cast(masks, 'float32');
  const total = op.reduceSum(m, [0]);
  const everyPair = op.matmul(op.transpose(total, [1, 0]), total);
  const samePair = op.matmul(op.transpose(m, [1, 0]), m);
  const forbidden = op.greater(op.sub(everyPair, samePair), 0.5);
  return op.where(forbidden, constantLike(total, dtype, maskedLogit(dtype)), constantLike(total, dtype, 0));
}

/** A scalar constant of `dtype` in the graph of `like` (a float32 value). */
export function constantLike(like: T, dtype: DType, value: number): T {
  return op.cast(like.graph.constant('float32', [], Float32Array.of(value), 'scalar'), dtype);
}

export interface BiasedAttendOptions {
  /** Additive bias [B or 1, heads or 1, S, L]; cast to the attention's dtype when it differs. */
  bias?: T;
  /** Attention in fp32 inside an fp16 graph (SD 2.x `upcast_attention`). */
  fp32?: boolean;
}

/** Multi-head attention with an additive bias, optionally upcast to fp32. */
export function biasedAttend(q: T, k: T, v: T, heads: number, o: BiasedAttendOptions = {}): T {
  const dtype = o.fp32 ? 'float32' : q.dtype;
  const f = (x: T) => op.cast(x, dtype);
  return op.cast(op.multiHeadAttention(f(q), f(k), f(v), heads, { attentionBias: o.bias && f(o.bias) }), q.dtype);
}
