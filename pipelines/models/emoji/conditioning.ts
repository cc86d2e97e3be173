// The condition vector every emoji denoiser shares (training/emoji/layers.py TimestepEmbedder):
// c = t_embedder.mlp.2(silu(t_embedder.mlp.0(sinusoid(t)))) + text_pool_proj(text_pooled).
import type { T } from '../../onnx/graph.ts';
import { linear } from '../../onnx/nn.ts';
import * as op from '../../onnx/ops.ts';
import type { Weights } from '../../onnx/weights.ts';

/**
 * The frequencies as PyTorch computes them in float32: exp(fl(−ln 10000 · i) / half), so the
 * arguments (up to 1000 rad) agree to the last bit that matters.
 */
function frequencies(half: number): number[] {
  const logPeriod = Math.fround(-Math.log(10000));
  return Array.from({ length: half }, (_, i) => Math.fround(Math.exp(Math.fround(Math.fround(logPeriod * i) / half))));
}

/** `[cos(a) | sin(a)]` with a = (1000·t)·f_i, in float32; t is the flow time in [0, 1], [B] → [B, freqDim]. */
export function emojiTimestepSinusoid(t: T, freqDim: number): T {
  const half = freqDim / 2;
  const t1000 = op.mul(op.cast(t, 'float32'), 1000);
  const args = op.mul(op.unsqueeze(t1000, [-1]), op.floats(t1000, frequencies(half), [1, half]));
  return op.concat([op.cos(args), op.sin(args)], -1);
}

/** c [B, width] from `t` [B] and `text_pooled` [B, text_dim] (both float32 graph inputs). */
export function emojiCondition(w: Weights, t: T, pooled: T, freqDim: number): T {
  const sinusoid = op.cast(emojiTimestepSinusoid(t, freqDim), w.dtype);
  const time = linear(w.sub('t_embedder.mlp.2'), op.silu(linear(w.sub('t_embedder.mlp.0'), sinusoid)));
  return op.add(time, linear(w.sub('text_pool_proj'), op.cast(pooled, w.dtype)));
}
