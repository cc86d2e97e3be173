// Layers shared by every architecture, written over ops.ts and a Weights view.
import type { T } from './graph.ts';
import * as op from './ops.ts';
import type { Weights } from './weights.ts';

/** PyTorch nn.Linear: x·Wᵀ + b over the last axis. */
export function linear(w: Weights, x: T, outFeatures?: number, bias = true): T {
  const inFeatures = x.dim(-1);
  const weight = w.linear('weight', outFeatures ?? w.shapeOf('weight')[0], inFeatures);
  const y = op.matmul(x, weight);
  return bias && w.has('bias') ? op.add(y, w.get('bias')) : y;
}

export function layerNorm(w: Weights | undefined, x: T, eps: number): T {
  const c = x.dim(-1);
  return op.layerNorm(x, w?.get('weight', [c]), w?.get('bias', [c]), eps);
}

/** RMSNorm (T5LayerNorm, diffusers' RMSNorm): x·rsqrt(mean(x²) + eps)·weight over the last axis, statistics in fp32. */
export function rmsNorm(weight: T | undefined, x: T, eps: number): T {
  const x32 = op.cast(x, 'float32');
  const inv = op.reciprocal(op.sqrt(op.add(op.reduceMean(op.mul(x32, x32), [-1]), eps)));
  const normed = op.cast(op.mul(x32, inv), x.dtype);
  return weight ? op.mul(normed, weight) : normed;
}

export function groupNorm(w: Weights, x: T, groups: number, eps: number): T {
  const c = x.dim(1);
  return op.groupNorm(x, groups, w.get('weight', [c]), w.get('bias', [c]), eps);
}

/**
 * GroupNorm (then SiLU when `silu`) on [N, C, H, W]: as one NHWC kernel between two transposes when the provider
 * has it (`fused`), else the plain ops.
 */
export function groupNormAct(w: Weights, x: T, groups: number, eps: number, o: { silu: boolean; fused?: boolean }): T {
  if (!o.fused) return o.silu ? op.silu(groupNorm(w, x, groups, eps)) : groupNorm(w, x, groups, eps);
  const c = x.dim(1);
  const nhwc = op.transpose(x, [0, 2, 3, 1]);
  return op.transpose(op.groupNormNhwc(nhwc, groups, w.get('weight', [c]), w.get('bias', [c]), eps, o.silu), [0, 3, 1, 2]);
}

export function groupNormSilu(w: Weights, x: T, groups: number, eps: number, fused = false): T {
  return groupNormAct(w, x, groups, eps, { silu: true, fused });
}

/** `linear(w, x) + skip`, bias and residual in one BiasAdd kernel when the provider has it (`fused`). */
export function linearPlus(w: Weights, x: T, skip: T, outFeatures: number, fused = false): T {
  if (!fused || !w.has('bias')) return op.add(linear(w, x, outFeatures), skip);
  return op.biasAdd(linear(w, x, outFeatures, false), w.get('bias', [outFeatures]), skip);
}

export function conv2d(w: Weights, x: T, o: op.Conv2dOptions = {}): T {
  return op.conv2d(x, w.get('weight'), w.optional('bias'), o);
}

/** Sinusoidal timestep embedding as in DiT/diffusers (`[cos, sin]` or `[sin, cos]` halves). */
export function timestepEmbedding(t: T, dim: number, o: { flipSinToCos: boolean; downscaleFreqShift: number; maxPeriod?: number; scale?: number }): T {
  const half = Math.floor(dim / 2);
  const maxPeriod = o.maxPeriod ?? 10000;
  const freqs = Array.from({ length: half }, (_, i) => Math.exp((-Math.log(maxPeriod) * i) / (half - o.downscaleFreqShift)));
  const tf = op.cast(t, 'float32');
  const args = op.mul(op.unsqueeze(tf, [-1]), op.floats(tf, freqs, [1, half]));
  const scaled = o.scale && o.scale !== 1 ? op.mul(args, o.scale) : args;
  const parts = o.flipSinToCos ? [op.cos(scaled), op.sin(scaled)] : [op.sin(scaled), op.cos(scaled)];
  let emb = op.concat(parts, -1);
  if (dim % 2 === 1) emb = op.pad(emb, [0, 0, 0, 1]);
  return emb;
}
