// CLIP vision tower (HF CLIPVisionModelWithProjection) as a graph: patch embedding with a class token and
// learned positions, `pre_layrnorm` (HF's spelling), the same pre-LN layers as the text tower without a
// mask, then the class token through `post_layernorm` and `visual_projection`. IP-Adapter takes either
// that projection (`image_embeds`) or the penultimate layer's hidden states (IP-Adapter Plus).
import { Graph, type DType, type T } from '../../onnx/graph.ts';
import * as op from '../../onnx/ops.ts';
import * as nn from '../../onnx/nn.ts';
import { Weights, type TensorSource } from '../../onnx/weights.ts';
import type { ClipVisionConfig } from './config.ts';
import { encoderLayer } from './text-model.ts';

export const PIXEL_VALUES = 'pixel_values';
export const IMAGE_EMBEDS = 'image_embeds';
export const PENULTIMATE = 'penultimate_hidden_states';

/** The vision tower on `pixels` [B, 3, S, S] (in `all`'s dtype): `imageEmbeds` [B, P], `penultimate` [B, 1 + patches, H]. */
export function clipVision(all: Weights, pixels: T, cfg: ClipVisionConfig): { imageEmbeds: T; penultimate: T } {
  const g = pixels.graph;
  const w = all.has('vision_model.embeddings.class_embedding') ? all.sub('vision_model') : all;
  const { imageSize: size, patchSize: patch, hiddenSize: h } = cfg;
  if (size % patch) throw new Error(`${all.file.path}: image_size ${size} is not a multiple of patch_size ${patch}`);
  const batch = pixels.dim(0);
  const patches = (size / patch) ** 2;
  const grid = op.conv2d(pixels, w.get('embeddings.patch_embedding.weight', [h, 3, patch, patch]), undefined, { stride: patch });
  const tokens = op.transpose(op.reshape(grid, [batch, h, patches]), [0, 2, 1]);
  const cls = op.expand(op.reshape(w.get('embeddings.class_embedding', [h]), [1, 1, h]), [batch, 1, h]);
  const embedded = op.add(op.concat([cls, tokens], 1), w.get('embeddings.position_embedding.weight', [patches + 1, h]));
  let x = nn.layerNorm(w.sub('pre_layrnorm'), embedded, cfg.layerNormEps);
  let penultimate = x;
  for (let i = 0; i < cfg.numLayers; i++) {
    if (i === cfg.numLayers - 1) penultimate = x;
    x = g.scope(`vision_layer${i}`, () => encoderLayer(w.sub(`encoder.layers.${i}`), x, undefined, cfg));
  }
  const pooled = nn.layerNorm(w.sub('post_layernorm'), op.squeeze(op.slice(x, [1], [0], [1]), [1]), cfg.layerNormEps);
  return { imageEmbeds: op.matmul(pooled, all.linear('visual_projection.weight', cfg.projectionDim, h)), penultimate };
}

/** Graph: `pixel_values` float32 [batch, 3, S, S] → `image_embeds` [batch, P] and `penultimate_hidden_states`, float32. */
export function buildClipVisionGraph(source: TensorSource, cfg: ClipVisionConfig, o: { batch: number; dtype?: DType }): Graph {
  const g = new Graph('clip_vision');
  const w = new Weights(g, source, o.dtype ?? 'float32');
  const pixels = g.input(PIXEL_VALUES, 'float32', [o.batch, 3, cfg.imageSize, cfg.imageSize]);
  const out = clipVision(w, op.cast(pixels, w.dtype), cfg);
  g.output(op.cast(out.imageEmbeds, 'float32'), IMAGE_EMBEDS);
  g.output(op.cast(out.penultimate, 'float32'), PENULTIMATE);
  return g;
}
