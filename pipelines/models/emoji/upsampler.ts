// emoji-upsampler: the decoder's 64² image → 128² (training/emoji/upsampler.py). A residual over
// nearest-neighbour upsampling: out = nearest2x(x) + PixelShuffle2(conv_out(relu(h))), h = conv_in(x)
// then blocks h + conv2(relu(conv1(relu(h)))); every conv 3×3, padding 1. Values stay in the decoder's
// range (before the clamp to [−1, 1]).
import { Graph, type DType, type T } from '../../onnx/graph.ts';
import { conv2d } from '../../onnx/nn.ts';
import * as op from '../../onnx/ops.ts';
import { Weights, type TensorSource } from '../../onnx/weights.ts';
import { pixelShuffle2 } from '../dico/resample.ts';
import type { EmojiUpsamplerConfig } from './config.ts';

export interface EmojiUpsamplerGraphOptions {
  /** Images per call (static: the pixel shuffle reshapes by it). */
  batch: number;
  /** Compute dtype; input and output stay float32 either way. */
  dtype?: DType;
}

const conv3 = (w: Weights, x: T) => conv2d(w, x, { padding: 1 });

/** `image` [B, 3, 64, 64] → `upsampled` [B, 3, 128, 128]. */
export function buildEmojiUpsamplerGraph(source: TensorSource, c: EmojiUpsamplerConfig, o: EmojiUpsamplerGraphOptions): Graph {
  const g = new Graph('emoji-upsampler');
  const w = new Weights(g, source, o.dtype ?? 'float32');
  const image = g.input('image', 'float32', [o.batch, 3, c.input_size, c.input_size]);
  const x = op.cast(image, w.dtype);
  let h = conv3(w.sub('conv_in'), x);
  for (let i = 0; i < c.blocks; i++) {
    const b = w.sub(`blocks.${i}`);
    h = op.add(h, conv3(b.sub('conv2'), op.relu(conv3(b.sub('conv1'), op.relu(h)))));
  }
  const detail = pixelShuffle2(conv3(w.sub('conv_out'), op.relu(h)));
  g.output(op.cast(op.add(op.upsampleNearest(x, 2), detail), 'float32'), 'upsampled');
  return g;
}
