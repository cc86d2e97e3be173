// Key masks of the emoji models' softmax attention (text self-attention, DiT cross-attention): a
// float [B, L] mask (1 = visible, 0 = padding) turned into MultiHeadAttention's additive bias.
import type { DType, T } from '../../onnx/graph.ts';
import * as op from '../../onnx/ops.ts';

/**
 * Stands for −∞: exp of it underflows to exactly 0 against logits of any sane size, without the NaN
 * that a true −∞ gives when it meets another −∞ or an fp16 kernel's rescaling. fp16 keeps it finite.
 */
const maskedLogit = (dtype: DType): number => (dtype === 'float16' ? -65504 : -1e9);

/** [B, 1, queries, L] bias: 0 where mask > 0.5, a huge negative elsewhere; in `dtype`. */
export function keyMaskBias(mask: T, queries: number, dtype: DType): T {
  const keys = mask.dim(1);
  const m = op.cast(mask, 'float32');
  const bias = op.cast(op.where(op.greater(m, 0.5), op.scalar(m, 0), op.scalar(m, maskedLogit(dtype))), dtype);
  // ORT's attention_bias wants the query axis present (it broadcasts batch and heads only).
  return op.expand(op.reshape(bias, [0, 1, 1, keys]), [1, 1, queries, keys]);
}
