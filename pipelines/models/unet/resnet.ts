// ResnetBlock2D, Downsample2D and Upsample2D of diffusers' UNet.
import type { Dim, T } from '../../onnx/graph.ts';
import * as nn from '../../onnx/nn.ts';
import * as op from '../../onnx/ops.ts';
import type { Weights } from '../../onnx/weights.ts';

export interface ResnetOptions {
  groups: number;
  eps: number;
  outputScale?: number;
  /** GroupNorm + SiLU as the provider's fused NHWC kernel. */
  fusedNorm?: boolean;
}

/** GroupNorm → SiLU → conv → + time projection → GroupNorm → SiLU → conv, plus a (1×1) shortcut. */
export function resnetBlock(w: Weights, x: T, timeAct: T, outChannels: number, o: ResnetOptions): T {
  let h = nn.groupNormSilu(w.sub('norm1'), x, o.groups, o.eps, o.fusedNorm);
  h = nn.conv2d(w.sub('conv1'), h, { padding: 1 });
  const t = nn.linear(w.sub('time_emb_proj'), timeAct, outChannels);
  h = op.add(h, op.unsqueeze(t, [2, 3]));
  h = nn.groupNormSilu(w.sub('norm2'), h, o.groups, o.eps, o.fusedNorm);
  h = nn.conv2d(w.sub('conv2'), h, { padding: 1 });
  const shortcut = w.has('conv_shortcut.weight') ? nn.conv2d(w.sub('conv_shortcut'), x) : x;
  const sum = op.add(shortcut, h);
  return o.outputScale && o.outputScale !== 1 ? op.div(sum, o.outputScale) : sum;
}

/** Stride-2 3×3 conv; diffusers pads only bottom/right when `downsample_padding` is 0. */
export function downsample(w: Weights, x: T, padding: number): T {
  const input = padding === 0 ? op.pad(x, [0, 0, 0, 0, 0, 0, 1, 1]) : x;
  return nn.conv2d(w.sub('conv'), input, { stride: 2, padding });
}

/**
 * Nearest ×2 (or to the skip connection's size when the latent is not divisible) then a 3×3 conv. Symbolic
 * sizes are always ×2: a symbolic UNet takes only latents that halve evenly at every level (unet.ts checks).
 */
export function upsample(w: Weights, x: T, height: Dim, width: Dim): T {
  const double = typeof height !== 'number' || typeof width !== 'number' || (height === x.dim(2) * 2 && width === x.dim(3) * 2);
  const up = double ? op.upsampleNearest(x, 2) : op.resizeNearest(x, height, width);
  return nn.conv2d(w.sub('conv'), up, { padding: 1 });
}
