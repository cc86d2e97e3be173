// Layers the upscaler graphs share: 3×3 convs, LeakyReLU, PyTorch's pixel (un)shuffle.
import type { T } from '../../onnx/graph.ts';
import * as op from '../../onnx/ops.ts';
import type { Weights } from '../../onnx/weights.ts';

export const conv3 = (w: Weights, x: T) => op.conv2d(x, w.get('weight'), w.get('bias'), { padding: 1 });
export const lrelu = (x: T) => op.leakyRelu(x, 0.2);

/** PyTorch's pixel_unshuffle: [1, C, H, W] → [1, C·r², H/r, W/r], channel c·r² + i·r + j. */
export function pixelUnshuffle(x: T, r: number, c: number, h: number, w: number): T {
  const blocks = op.reshape(x, [1, c, h / r, r, w / r, r]);
  return op.reshape(op.transpose(blocks, [0, 1, 3, 5, 2, 4]), [1, c * r * r, h / r, w / r]);
}

/** PyTorch's pixel_shuffle: [1, C·r², H, W] → [1, C, H·r, W·r]. */
export function pixelShuffle(x: T, r: number, c: number, h: number, w: number): T {
  const blocks = op.reshape(x, [1, c, r, r, h, w]);
  return op.reshape(op.transpose(blocks, [0, 1, 4, 2, 5, 3]), [1, c, h * r, w * r]);
}
