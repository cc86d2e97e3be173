// DiT block with adaLN-zero conditioning, and the final layer. Tokens are [B, S, D].
import type { T } from '../../onnx/graph.ts';
import * as nn from '../../onnx/nn.ts';
import * as op from '../../onnx/ops.ts';
import type { Weights } from '../../onnx/weights.ts';
import { adaLN, modulate } from './embeddings.ts';

const LN_EPS = 1e-6;

/** Broadcast shape of a [B, D] modulation vector over [B, S, D] tokens. */
const overTokens = (x: T) => [x.dim(0), 1, x.dim(2)];

/** Self-attention with a fused qkv projection (q, k, v are consecutive thirds of its output). */
export function selfAttention(w: Weights, x: T, heads: number): T {
  const d = x.dim(-1);
  const [q, k, v] = op.chunk(nn.linear(w.sub('qkv'), x, 3 * d), 3, -1);
  return nn.linear(w.sub('proj'), op.multiHeadAttention(q, k, v, heads), d);
}

export function mlp(w: Weights, x: T, hidden: number): T {
  const h = op.gelu(nn.linear(w.sub('fc1'), x, hidden), 'tanh');
  return nn.linear(w.sub('fc2'), h, x.dim(-1));
}

export function ditBlock(w: Weights, x: T, c: T, heads: number, mlpHidden: number): T {
  return x.graph.scope(w.prefix, () => {
    const [shiftMsa, scaleMsa, gateMsa, shiftMlp, scaleMlp, gateMlp] = adaLN(w, c, 6);
    const gate = (g: T) => op.reshape(g, overTokens(x));
    const attnIn = modulate(op.layerNorm(x, undefined, undefined, LN_EPS), shiftMsa, scaleMsa, overTokens(x));
    const h = op.add(x, op.mul(gate(gateMsa), selfAttention(w.sub('attn'), attnIn, heads)));
    const mlpIn = modulate(op.layerNorm(h, undefined, undefined, LN_EPS), shiftMlp, scaleMlp, overTokens(h));
    return op.add(h, op.mul(gate(gateMlp), mlp(w.sub('mlp'), mlpIn, mlpHidden)));
  });
}

/** LayerNorm + adaLN (shift, scale) + Linear to patch·patch·channels per token. */
export function finalLayer(w: Weights, x: T, c: T, outFeatures: number): T {
  return x.graph.scope('final_layer', () => {
    const [shift, scale] = adaLN(w, c, 2);
    const normed = modulate(op.layerNorm(x, undefined, undefined, LN_EPS), shift, scale, overTokens(x));
    return nn.linear(w.sub('linear'), normed, outFeatures);
  });
}
