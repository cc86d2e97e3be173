// LiT's self-attention (LiT's LinearAttention; emoji-LiT's training/emoji/dit.py LinearSelfAttention):
// ReLU linear attention normalised by division, plus a depthwise conv on V whose kernel all heads share,
// computed in float32 even in an fp16 graph. Weights `q`, `kv` (K and V fused), `proj`, `dwc`.
import type { T } from '../onnx/graph.ts';
import { conv2d, linear } from '../onnx/nn.ts';
import * as op from '../onnx/ops.ts';
import { Weights } from '../onnx/weights.ts';
import { rows, type SelfAttentionResult } from './self-attention.ts';

export interface LinearAttentionShape {
  heads: number;
  kernel: number;
  /** Added to 1/(q·mean k + eps)'s denominator. */
  eps: number;
  /** Added to q and k after the ReLU (LiT's own code: 1e-6; the emoji model was trained without). */
  featureEps?: number;
  grid: { height: number; width: number };
  /** PAG's identity attention: the heads are V; q, the linear part and the conv are not built. */
  identity?: boolean;
}

/** [B, N, h·d] → [B, h, N, d] and back. */
const splitHeads = (x: T, heads: number) => op.transpose(op.reshape(x, [x.dim(0), x.dim(1), heads, x.dim(2) / heads]), [0, 2, 1, 3]);
const mergeHeads = (x: T) => op.reshape(op.transpose(x, [0, 2, 1, 3]), [x.dim(0), x.dim(2), x.dim(1) * x.dim(3)]);

/**
 * `a` [B, N, C] (the modulated hidden states) → per-head output before `attn.proj`, V for head
 * perturbation, and the projection (whose output is cast back to the graph's dtype).
 */
export function linearAttention(w: Weights, a: T, s: LinearAttentionShape): SelfAttentionResult {
  const w32 = new Weights(w.graph, w.file, 'float32', w.prefix);
  const [batch, tokens, channels] = [a.dim(0), a.dim(1), a.dim(2)];
  const d = channels / s.heads;
  if (s.grid.height * s.grid.width !== tokens) throw new Error(`LiT attention: ${tokens} tokens do not form a ${s.grid.height}×${s.grid.width} grid`);
  const x = op.cast(a, 'float32');
  const [kFlat, vFlat] = op.split(linear(w32.sub('kv'), x, 2 * channels), -1, [channels, channels]);
  const value = (start: number, count: number) => rows(vFlat, start, count);
  const project = (o: T) => op.cast(linear(w32.sub('proj'), o, channels), w.dtype);
  if (s.identity) return { heads: vFlat, value, project };

  const feature = (t: T) => (s.featureEps ? op.add(op.relu(t), s.featureEps) : op.relu(t));
  const q = feature(splitHeads(linear(w32.sub('q'), x, channels), s.heads));
  const k = feature(splitHeads(kFlat, s.heads));
  const v = splitHeads(vFlat, s.heads);

  const kMean = op.transpose(op.reduceMean(k, [2]), [0, 1, 3, 2]); // [B, h, d, 1]
  const z = op.reciprocal(op.add(op.matmul(q, kMean), s.eps)); // [B, h, N, 1]
  const root = tokens ** -0.5;
  const kv = op.matmul(op.transpose(op.mul(k, root), [0, 1, 3, 2]), op.mul(v, root)); // [B, h, d, d]
  const linearPart = op.mul(op.matmul(q, kv), z);

  const vImage = op.reshape(op.transpose(v, [0, 1, 3, 2]), [batch * s.heads, d, s.grid.height, s.grid.width]);
  const local = conv2d(w32.sub('dwc'), vImage, { padding: (s.kernel - 1) / 2, groups: d });
  const localTokens = op.transpose(op.reshape(local, [batch, s.heads, d, tokens]), [0, 1, 3, 2]);

  return { heads: mergeHeads(op.add(linearPart, localTokens)), value, project };
}
