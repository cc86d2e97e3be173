// One MMDiT block (diffusers' JointTransformerBlock, and FLUX's double-stream FluxTransformerBlock with its own joint attention): adaLN-zero on both streams, joint attention,
// SD3.5's optional image-only attn2, then a GELU-tanh MLP per stream. The last block only updates the
// image stream (its text side has a continuous adaLN and no output projection or MLP).
import type { T } from '../../onnx/graph.ts';
import * as nn from '../../onnx/nn.ts';
import * as op from '../../onnx/ops.ts';
import type { Weights } from '../../onnx/weights.ts';
import { imageAttention, jointAttention, type AttentionContext } from './attention.ts';
import { modulate, modulated, modulation } from './embeddings.ts';

const gated = (gate: T, x: T) => op.mul(op.unsqueeze(gate, [1]), x);

function feedForward(w: Weights, x: T): T {
  const width = x.dim(-1);
  const h = op.gelu(nn.linear(w.sub('net.0.proj'), x, 4 * width), 'tanh');
  return nn.linear(w.sub('net.2'), h, width);
}

/** Joint attention of image and text tokens; `textOut` false skips the text stream's output projection. */
export type JointAttention = (w: Weights, image: T, text: T, c: AttentionContext, textOut: boolean) => { image: T; text?: T };

export interface BlockAttention {
  attn: AttentionContext;
  /** Present on dual-attention blocks. */
  attn2?: AttentionContext;
  /** SD3's joint attention unless given (FLUX's puts text first and rotates q and k). */
  joint?: JointAttention;
}

export function jointBlock(w: Weights, image: T, text: T, c: T, a: BlockAttention, last: boolean): { image: T; text: T } {
  const m = modulation(w.sub('norm1'), c, a.attn2 ? 9 : 6);
  const [shiftMsa, scaleMsa, gateMsa, shiftMlp, scaleMlp, gateMlp] = m;
  const normed = op.layerNorm(image, undefined, undefined, 1e-6);

  let textIn: T;
  let cm: T[] = [];
  if (last) {
    const [scale, shift] = modulation(w.sub('norm1_context'), c, 2);
    textIn = modulate(text, shift, scale);
  } else {
    cm = modulation(w.sub('norm1_context'), c, 6);
    textIn = modulate(text, cm[0], cm[1]);
  }

  const attn = (a.joint ?? jointAttention)(w.sub('attn'), modulated(normed, shiftMsa, scaleMsa), textIn, a.attn, !last);
  let h = op.add(image, gated(gateMsa, attn.image));
  if (a.attn2) h = op.add(h, gated(m[8], imageAttention(w.sub('attn2'), modulated(normed, m[6], m[7]), a.attn2)));
  h = op.add(h, gated(gateMlp, feedForward(w.sub('ff'), modulate(h, shiftMlp, scaleMlp))));
  if (last) return { image: h, text };

  let t = op.add(text, gated(cm[2], attn.text!));
  t = op.add(t, gated(cm[5], feedForward(w.sub('ff_context'), modulate(t, cm[3], cm[4]))));
  return { image: h, text: t };
}
