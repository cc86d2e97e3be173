// One emoji-DiT/LiT block (training/emoji/dit.py Block): adaLN-single modulated self-attention with a
// gate, ungated cross-attention to the text, modulated MLP with a gate.
import type { T } from '../../onnx/graph.ts';
import { layerNorm, linear } from '../../onnx/nn.ts';
import * as op from '../../onnx/ops.ts';
import type { Weights } from '../../onnx/weights.ts';
import { finishAttention, type HeadPerturbation } from '../../attention/head-perturbation.ts';
import type { SelfAttentionLayer, SelfAttentionResult } from '../../attention/self-attention.ts';
import type { EmojiTransformerConfig } from './config.ts';
import { crossAttention, softmaxSelfAttention } from './dit-attention.ts';
import { linearAttention } from '../../attention/lit-linear.ts';

export interface EmojiBlockContext {
  cfg: EmojiTransformerConfig;
  /** adaLN-single output [B, 6, C], shared by all blocks. */
  mod: T;
  text: T;
  /** The text key mask as MultiHeadAttention's additive bias [B, 1, N, L] (key-mask.ts). */
  textBias: T;
  grid: { height: number; width: number };
  perturbation?: HeadPerturbation;
  /** Layer indices whose self-attention is PAG's identity (attends only to itself) on every row. */
  identityLayers: ReadonlySet<number>;
  /** Replaces the softmax self-attention (emoji-DiT only; IR-Diffusion's story attention). */
  selfAttention?: (call: EmojiSelfAttentionCall) => SelfAttentionResult;
  /** Replaces the text cross-attention; the call's `plain()` builds the model's own. */
  crossAttention?: (call: EmojiCrossAttentionCall) => T;
}

/** One block's self-attention for a replacement: `hidden` is the modulated input [B, N, C]; `weights` hold `qkv` and `proj`. */
export interface EmojiSelfAttentionCall {
  layer: SelfAttentionLayer;
  weights: Weights;
  hidden: T;
  grid: { height: number; width: number };
}

/** One block's text cross-attention for a replacement; `weights` hold `q_linear`, `kv_linear` and `proj`. */
export interface EmojiCrossAttentionCall {
  layer: SelfAttentionLayer;
  weights: Weights;
  hidden: T;
  text: T;
  /** The text key mask as an additive bias [B, 1, N, L]. */
  textBias: T;
  heads: number;
  grid: { height: number; width: number };
  plain: () => T;
}

/** x·(1 + scale) + shift with [B, 1, C] vectors broadcast over the tokens. */
export const modulate = (x: T, shift: T, scale: T): T => op.add(op.mul(x, op.add(scale, 1)), shift);

function selfAttention(w: Weights, a: T, layer: SelfAttentionLayer, ctx: EmojiBlockContext): SelfAttentionResult {
  const identity = ctx.identityLayers.has(layer.index);
  if (ctx.selfAttention) return ctx.selfAttention({ layer, weights: w, hidden: a, grid: ctx.grid });
  if (ctx.cfg.self_attention === 'softmax') return softmaxSelfAttention(w, a, layer.heads, identity);
  const c = ctx.cfg;
  return linearAttention(w, a, { heads: c.linear_heads, kernel: c.dwc_kernel, eps: c.linear_eps, grid: ctx.grid, identity });
}

export function emojiDitBlock(w: Weights, h: T, layer: SelfAttentionLayer, ctx: EmojiBlockContext): T {
  const c = ctx.cfg;
  const width = c.hidden_size;
  const table = op.add(op.unsqueeze(w.get('scale_shift_table', [6, width]), [0]), ctx.mod);
  const [shiftMsa, scaleMsa, gateMsa, shiftMlp, scaleMlp, gateMlp] = op.split(table, 1, [1, 1, 1, 1, 1, 1]);

  const a = modulate(layerNorm(undefined, h, c.layer_norm_eps), shiftMsa, scaleMsa);
  const attn = finishAttention(selfAttention(w.sub('attn'), a, layer, ctx), layer, ctx.perturbation);
  h = op.add(h, op.mul(gateMsa, attn));
  const cw = w.sub('cross_attn');
  const plain = () => crossAttention(cw, h, ctx.text, ctx.textBias, c.num_heads);
  h = op.add(h, ctx.crossAttention ? ctx.crossAttention({ layer, weights: cw, hidden: h, text: ctx.text, textBias: ctx.textBias, heads: c.num_heads, grid: ctx.grid, plain }) : plain());
  const b = modulate(layerNorm(undefined, h, c.layer_norm_eps), shiftMlp, scaleMlp);
  const mlp = linear(w.sub('mlp.fc2'), op.gelu(linear(w.sub('mlp.fc1'), b, c.mlp_hidden), 'tanh'), width);
  return op.add(h, op.mul(gateMlp, mlp));
}
