// Scaled dot-product attention on [B, S, heads·d] tensors through com.microsoft MultiHeadAttention,
// optionally computed in fp32 inside an fp16 graph (SD 2.x `upcast_attention`, AgentSD's fp32 mode).
import type { T } from '../onnx/graph.ts';
import * as op from '../onnx/ops.ts';

export interface AttendOptions {
  /** Defaults to 1/sqrt(head_dim). */
  scale?: number;
  /** Run the attention in fp32 when the inputs are fp16. */
  fp32?: boolean;
}

export function attend(q: T, k: T, v: T, heads: number, o: AttendOptions = {}): T {
  const mha = { scale: o.scale };
  if (!o.fp32 || q.dtype === 'float32') return op.multiHeadAttention(q, k, v, heads, mha);
  const out = op.multiHeadAttention(op.cast(q, 'float32'), op.cast(k, 'float32'), op.cast(v, 'float32'), heads, mha);
  return op.cast(out, q.dtype);
}
