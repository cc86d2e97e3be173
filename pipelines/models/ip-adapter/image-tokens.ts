// One graph from the IP-Adapter image to the tokens the UNet attends to, for both CFG branches as
// diffusers makes them: row 0 the unconditional tokens (base: zero image embeddings through the
// projection; Plus: the encoder's hidden states of an all-zero image), row 1 the image's.
import { Graph, type DType, type T } from '../../onnx/graph.ts';
import * as op from '../../onnx/ops.ts';
import { Weights } from '../../onnx/weights.ts';
import type { IpAdapterSource } from '../../checkpoints/ip-adapter.ts';
import type { ImageEncoderSource } from '../../checkpoints/clip-vision.ts';
import { clipVision, PIXEL_VALUES } from '../clip/vision-model.ts';
import { baseProjection, resampler } from './projection.ts';
import { IP_TOKENS } from './attention.ts';

/** [2, …]: zeros (the unconditional input), then `x`. */
const zeroAndImage = (x: T) => op.concat([op.mul(x, 0), x], 0);

/** `pixel_values` [1, 3, S, S] (CLIP-normalised) → `ip_tokens` [2, N, text width], float32. */
export function buildImageTokensGraph(encoder: ImageEncoderSource, adapter: IpAdapterSource, dtype: DType = 'float32'): Graph {
  const g = new Graph('ip_adapter_tokens');
  const size = encoder.config.imageSize;
  const pixels = op.cast(g.input(PIXEL_VALUES, 'float32', [1, 3, size, size]), dtype);
  const vision = new Weights(g, encoder.weights, dtype);
  const projection = new Weights(g, adapter.projection, dtype);
  const tokens = adapter.kind === 'base'
    ? baseProjection(projection, zeroAndImage(clipVision(vision, pixels, encoder.config).imageEmbeds), adapter.tokens, adapter.crossDim)
    : resampler(projection, clipVision(vision, zeroAndImage(pixels), encoder.config).penultimate);
  g.output(op.cast(tokens, 'float32'), IP_TOKENS);
  return g;
}
