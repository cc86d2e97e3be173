// MMDiT attention: joint attention over [image tokens, text tokens] with separate projections per
// stream (SD3), optional per-head RMSNorm on q and k (SD3.5), and SD3.5-medium's image-only attn2.
// Both go through the shared head perturbation (SoftPAG / PAG / HeadHunter): head h of a perturbed row
// outputs (1−u)·attention + u·V over the whole joint sequence, the paper's A' = (1−u)·A + u·I.
import type { T } from '../../onnx/graph.ts';
import * as nn from '../../onnx/nn.ts';
import * as op from '../../onnx/ops.ts';
import type { Weights } from '../../onnx/weights.ts';
import { attend } from '../../attention/mha.ts';
import { finishAttention, type HeadPerturbation } from '../../attention/head-perturbation.ts';
import { rows, type SelfAttentionLayer } from '../../attention/self-attention.ts';

const QK_NORM_EPS = 1e-6;

export interface AttentionContext {
  layer: SelfAttentionLayer;
  qkNorm: boolean;
  perturbation?: HeadPerturbation;
}

/** [B, N, heads·d] with RMSNorm over each head's d channels. */
function perHeadNorm(w: Weights, x: T, heads: number): T {
  const [b, n, width] = [x.dim(0), x.dim(1), x.dim(2)];
  const d = width / heads;
  const normed = nn.rmsNorm(w.get('weight', [d]), op.reshape(x, [b, n, heads, d]), QK_NORM_EPS);
  return op.reshape(normed, [b, n, width]);
}

/** q, k, v [B, N, heads·d] of one stream, q and k RMS-normed per head when the model has qk norms. */
export function qkv(w: Weights, x: T, names: readonly [string, string, string], norms: readonly [string, string], c: AttentionContext): T[] {
  const width = c.layer.channels;
  const [q, k, v] = names.map((n) => nn.linear(w.sub(n), x, width));
  if (!c.qkNorm) return [q, k, v];
  return [perHeadNorm(w.sub(norms[0]), q, c.layer.heads), perHeadNorm(w.sub(norms[1]), k, c.layer.heads), v];
}

/**
 * Joint attention of image tokens [B, N, W] and text tokens [B, L, W]. Returns both streams after their
 * output projections; `textOut` false (the last block) skips the text stream's projection.
 */
export function jointAttention(w: Weights, image: T, text: T, c: AttentionContext, textOut: boolean): { image: T; text?: T } {
  const n = image.dim(1);
  const l = text.dim(1);
  const [qi, ki, vi] = qkv(w, image, ['to_q', 'to_k', 'to_v'], ['norm_q', 'norm_k'], c);
  const [qt, kt, vt] = qkv(w, text, ['add_q_proj', 'add_k_proj', 'add_v_proj'], ['norm_added_q', 'norm_added_k'], c);
  const v = op.concat([vi, vt], 1);
  const heads = attend(op.concat([qi, qt], 1), op.concat([ki, kt], 1), v, c.layer.heads);
  const width = c.layer.channels;
  const project = (o: T) => {
    const [oi, ot] = op.split(o, 1, [n, l]);
    const yi = nn.linear(w.sub('to_out.0'), oi, width);
    return textOut ? op.concat([yi, nn.linear(w.sub('to_add_out'), ot, width)], 1) : yi;
  };
  const out = finishAttention({ heads, value: (start, count) => rows(v, start, count), project }, c.layer, c.perturbation);
  if (!textOut) return { image: out };
  const [image2, text2] = op.split(out, 1, [n, l]);
  return { image: image2, text: text2 };
}

/** SD3.5-medium's attn2: plain self-attention over the image tokens. */
export function imageAttention(w: Weights, image: T, c: AttentionContext): T {
  const [q, k, v] = qkv(w, image, ['to_q', 'to_k', 'to_v'], ['norm_q', 'norm_k'], c);
  const heads = attend(q, k, v, c.layer.heads);
  const project = (o: T) => nn.linear(w.sub('to_out.0'), o, c.layer.channels);
  return finishAttention({ heads, value: (start, count) => rows(v, start, count), project }, c.layer, c.perturbation);
}
