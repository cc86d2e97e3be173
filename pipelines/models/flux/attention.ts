// FLUX attention (diffusers' FluxAttnProcessor): per-head RMSNorm on q and k, RoPE, and joint attention
// over [text tokens, image tokens], text first. Head perturbation (SoftPAG / PAG / HeadHunter) goes
// through the shared code as on SD3: head h of a perturbed row outputs (1−u)·attention + u·V over the
// whole joint sequence.
import type { T } from '../../onnx/graph.ts';
import * as nn from '../../onnx/nn.ts';
import * as op from '../../onnx/ops.ts';
import type { Weights } from '../../onnx/weights.ts';
import { attend } from '../../attention/mha.ts';
import { finishAttention } from '../../attention/head-perturbation.ts';
import { rows } from '../../attention/self-attention.ts';
import { qkv, type AttentionContext } from '../mmdit/attention.ts';
import { applyRope } from './rope.ts';

export interface Rope {
  cos: T;
  sin: T;
}

const IMAGE = ['to_q', 'to_k', 'to_v'] as const;
const IMAGE_NORMS = ['norm_q', 'norm_k'] as const;

function attendRotated(q: T, k: T, v: T, c: AttentionContext, rope: Rope): T {
  const heads = c.layer.heads;
  return attend(applyRope(q, rope, heads), applyRope(k, rope, heads), v, heads);
}

/** Double-stream blocks: image [B, N, W] and text [B, L, W] projected apart, attended together. */
export function fluxJointAttention(w: Weights, image: T, text: T, c: AttentionContext, rope: Rope): { image: T; text: T } {
  const [l, n] = [text.dim(1), image.dim(1)];
  const [qi, ki, vi] = qkv(w, image, IMAGE, IMAGE_NORMS, c);
  const [qt, kt, vt] = qkv(w, text, ['add_q_proj', 'add_k_proj', 'add_v_proj'], ['norm_added_q', 'norm_added_k'], c);
  const v = op.concat([vt, vi], 1);
  const heads = attendRotated(op.concat([qt, qi], 1), op.concat([kt, ki], 1), v, c, rope);
  const width = c.layer.channels;
  const project = (o: T) => {
    const [ot, oi] = op.split(o, 1, [l, n]);
    return op.concat([nn.linear(w.sub('to_add_out'), ot, width), nn.linear(w.sub('to_out.0'), oi, width)], 1);
  };
  const [text2, image2] = op.split(finishAttention({ heads, value: (start, count) => rows(v, start, count), project }, c.layer, c.perturbation), 1, [l, n]);
  return { image: image2, text: text2 };
}

/** Single-stream blocks: self-attention over the joint sequence [B, L + N, W], before any projection. */
export function fluxSingleAttention(w: Weights, x: T, c: AttentionContext, rope: Rope): T {
  const [q, k, v] = qkv(w, x, IMAGE, IMAGE_NORMS, c);
  const heads = attendRotated(q, k, v, c, rope);
  return finishAttention({ heads, value: (start, count) => rows(v, start, count), project: (o) => o }, c.layer, c.perturbation);
}
