// One graph from the IP-Adapter image to the tokens the UNet attends to, for both CFG branches as
// diffusers makes them: row 0 the unconditional tokens (base: zero image embeddings through the
// projection; Plus: the encoder's hidden states of an all-zero image), row 1 the image's.
import { Graph, type DType } from '../../onnx/graph.ts';
import * as op from '../../onnx/ops.ts';
import { Weights } from '../../onnx/weights.ts';
import type { IpAdapterSource } from '../../checkpoints/ip-adapter.ts';
import type { ImageEncoderSource } from '../../checkpoints/clip-vision.ts';
import { clipVision, PIXEL_VALUES } from '../clip/vision-model.ts';
import { baseProjection, resampler } from './projection.ts';
import { IP_TOKENS } from './attention.ts';

/** `pixel_values` [1, 3, S, S] (CLIP-normalised) → `ip_tokens` [2, N, text width], float32. */
export function buildImageTokensGraph(encoder: ImageEncoderSource, adapter: IpAdapterSource, dtype: DType = 'float32'): Graph {
  const g = new Graph('ip_adapter_tokens');
  const size = encoder.config.imageSize;
  const pixels = op.cast(g.input(PIXEL_VALUES, 'float32', [1, 3, size, size]), dtype);
  const vision = new Weights(g, encoder.weights, dtype);
  const projection = new Weights(g, adapter.projection, dtype);
  let tokens;
  if (adapter.kind === 'base') {
    const { imageEmbeds } = clipVision(vision, pixels, encoder.config);
    const both = op.concat([op.mul(imageEmbeds, 0), imageEmbeds], 0);
    tokens = baseProjection(projection, both, adapter.tokens, adapter.crossDim);
  } else {
    const { penultimate } = clipVision(vision, op.concat([op.mul(pixels, 0), pixels], 0), encoder.config);
    tokens = resampler(projection, penultimate);
  }
  g.output(op.cast(tokens, 'float32'), IP_TOKENS);
  return g;
}
