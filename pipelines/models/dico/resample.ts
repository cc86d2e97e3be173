// Restormer-style resampling: 3×3 conv (no bias) then PixelUnshuffle(2) / PixelShuffle(2), written as
// Reshape + Transpose with PyTorch's channel order (c·4 + 2·i + j) so it runs on every provider.
import type { T } from '../../onnx/graph.ts';
import * as nn from '../../onnx/nn.ts';
import * as op from '../../onnx/ops.ts';
import type { Weights } from '../../onnx/weights.ts';

/** [N, C, 2H, 2W] → [N, 4C, H, W]: out[c·4 + 2i + j, h, w] = in[c, 2h + i, 2w + j]. */
export function pixelUnshuffle2(x: T): T {
  const [n, c, h, w] = x.shape.map((_, i) => x.dim(i));
  const split = op.reshape(x, [n, c, h / 2, 2, w / 2, 2]);
  return op.reshape(op.transpose(split, [0, 1, 3, 5, 2, 4]), [n, 4 * c, h / 2, w / 2]);
}

/** [N, 4C, H, W] → [N, C, 2H, 2W], the inverse of pixelUnshuffle2. */
export function pixelShuffle2(x: T): T {
  const [n, c4, h, w] = x.shape.map((_, i) => x.dim(i));
  const split = op.reshape(x, [n, c4 / 4, 2, 2, h, w]);
  return op.reshape(op.transpose(split, [0, 1, 4, 2, 5, 3]), [n, c4 / 4, 2 * h, 2 * w]);
}

export const downsample = (w: Weights, x: T): T => pixelUnshuffle2(nn.conv2d(w.sub('body.0'), x, { padding: 1 }));
export const upsample = (w: Weights, x: T): T => pixelShuffle2(nn.conv2d(w.sub('body.0'), x, { padding: 1 }));
