// IP-Adapter's image projections, from the image encoder's output to N tokens of the UNet's text width:
//   base (diffusers' ImageProjection): Linear(image_embeds) → [N, width] → LayerNorm;
//   plus (IPAdapterPlusImageProjection, a perceiver resampler): N learned latents attend, in 4 blocks of
//   (LayerNorm'd image features ++ latents) attention and a GELU feed-forward, then proj_out + norm_out.
// Names are the original file's (`proj`, `norm`; `layers.i.0.to_q/to_kv/to_out`, `layers.i.1.0/1/3`).
import type { T } from '../../onnx/graph.ts';
import * as nn from '../../onnx/nn.ts';
import * as op from '../../onnx/ops.ts';
import type { Weights } from '../../onnx/weights.ts';

const EPS = 1e-5;
/** The resampler's head width, fixed in IP-Adapter (diffusers reads heads as to_q rows / 64). */
const HEAD_DIM = 64;

/** `embeds` [B, D] → [B, tokens, width]. */
export function baseProjection(w: Weights, embeds: T, tokens: number, width: number): T {
  const projected = nn.linear(w.sub('proj'), embeds, tokens * width);
  return nn.layerNorm(w.sub('norm'), op.reshape(projected, [embeds.dim(0), tokens, width]), EPS);
}

/** `features` [B, L, D] (the encoder's penultimate hidden states) → [B, tokens, width]. */
export function resampler(w: Weights, features: T): T {
  const batch = features.dim(0);
  const [, queries, hidden] = w.shapeOf('latents');
  const x = nn.linear(w.sub('proj_in'), features, hidden);
  let latents = op.expand(w.get('latents'), [batch, queries, hidden]);
  for (let i = 0; w.has(`layers.${i}.0.to_q.weight`); i++) {
    const b = w.sub(`layers.${i}`);
    const inner = b.shapeOf('0.to_q.weight')[0];
    const heads = inner / HEAD_DIM;
    const normedX = nn.layerNorm(b.sub('0.norm1'), x, EPS);
    const normedLatents = nn.layerNorm(b.sub('0.norm2'), latents, EPS);
    const context = op.concat([normedX, normedLatents], 1);
    const q = nn.linear(b.sub('0.to_q'), normedLatents, inner, false);
    const [k, v] = op.split(nn.linear(b.sub('0.to_kv'), context, 2 * inner, false), -1, [inner, inner]);
    latents = op.add(nn.linear(b.sub('0.to_out'), op.multiHeadAttention(q, k, v, heads), hidden, false), latents);
    const ff = nn.linear(b.sub('1.3'), op.gelu(nn.linear(b.sub('1.1'), nn.layerNorm(b.sub('1.0'), latents, EPS), undefined, false)), hidden, false);
    latents = op.add(ff, latents);
  }
  return nn.layerNorm(w.sub('norm_out'), nn.linear(w.sub('proj_out'), latents), EPS);
}
