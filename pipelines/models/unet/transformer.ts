// Transformer2DModel and BasicTransformerBlock: self-attention (a pluggable variant), cross-attention
// on the text states, GEGLU feed-forward.
import type { T } from '../../onnx/graph.ts';
import * as nn from '../../onnx/nn.ts';
import * as op from '../../onnx/ops.ts';
import type { Weights } from '../../onnx/weights.ts';
import { finishAttention, type HeadPerturbation } from '../../attention/head-perturbation.ts';
import { attend } from '../../attention/mha.ts';
import type { SelfAttentionLayer, SelfAttentionVariant } from '../../attention/self-attention.ts';
import type { FusedKernels } from '../../runtime/kernels.ts';
import type { UNetMemory } from './memory.ts';
import type { ImagePromptAttention } from '../ip-adapter/attention.ts';

/** One block's text cross-attention (attn2) for a replacement; `plain()` builds the model's own. */
export interface CrossAttentionCall {
  layer: SelfAttentionLayer;
  weights: Weights;
  hidden: T;
  text: T;
  grid: { height: number; width: number };
  upcast: boolean;
  plain: () => T;
}

/** What every transformer of one UNet graph shares. */
export interface TransformerContext {
  selfAttention: SelfAttentionVariant;
  /** Opt-in replacement of attn2 (IR-Diffusion's mutual cross-attention, attention-map probes). */
  crossAttention?: (call: CrossAttentionCall) => T;
  perturbation?: HeadPerturbation;
  layerByName: ReadonlyMap<string, SelfAttentionLayer>;
  latent: { height: number; width: number };
  groups: number;
  linearProjection: boolean;
  upcast: boolean;
  /** The provider's fused kernels to emit (undefined: the plain graph). */
  kernels?: FusedKernels;
  /** Pieces for the feed-forward and LinFusion (undefined: whole). */
  memory?: UNetMemory;
  /** IP-Adapter's image attention, added to every attn2 (../ip-adapter/attention.ts). */
  imagePrompt?: ImagePromptAttention;
}

/** Transformer2DModel on [B, C, H, W]; `name` is its diffusers module path (e.g. `mid_block.attentions.0`). */
export function transformer2d(w: Weights, name: string, x: T, text: T, depth: number, ctx: TransformerContext): T {
  const [batch, channels] = [x.dim(0), x.dim(1)];
  // A symbolic grid (one graph for every size) reaches only variants that do not read it (unet.ts checks).
  const [height, width] = typeof x.shape[2] === 'number' && typeof x.shape[3] === 'number' ? [x.dim(2), x.dim(3)] : [NaN, NaN];
  // Fused, the norm is the provider's NHWC kernel, and its closing transpose cancels toTokens' opening one.
  const normed = nn.groupNormAct(w.sub('norm'), x, ctx.groups, 1e-6, { silu: false, fused: ctx.kernels?.groupNormSilu });
  const toTokens = (t: T) => op.reshape(op.transpose(t, [0, 2, 3, 1]), [batch, -1, channels]);
  const toImage = (t: T) => op.transpose(op.reshapeAs(t, [batch, [x, 2], [x, 3], channels]), [0, 3, 1, 2]);
  let h = ctx.linearProjection ? nn.linear(w.sub('proj_in'), toTokens(normed), channels) : toTokens(nn.conv2d(w.sub('proj_in'), normed));
  for (let k = 0; k < depth; k++) {
    const blockName = `${name}.transformer_blocks.${k}`;
    h = x.graph.scope(blockName, () => transformerBlock(w.sub(`transformer_blocks.${k}`), blockName, h, text, { height, width }, ctx));
  }
  const out = ctx.linearProjection ? toImage(nn.linear(w.sub('proj_out'), h, channels)) : nn.conv2d(w.sub('proj_out'), toImage(h));
  return op.add(out, x);
}

function transformerBlock(w: Weights, name: string, x: T, text: T, grid: { height: number; width: number }, ctx: TransformerContext): T {
  const layer = ctx.layerByName.get(`${name}.attn1`);
  if (!layer) throw new Error(`internal: self-attention layer ${name}.attn1 is missing from the layer list`);
  const hidden = nn.layerNorm(w.sub('norm1'), x, 1e-5);
  const attn = ctx.selfAttention.apply({ layer, weights: w.sub('attn1'), hidden, blockInput: x, grid, latent: ctx.latent, upcast: ctx.upcast, pieces: ctx.memory?.attentionPieces });
  x = op.add(finishAttention(attn, layer, ctx.perturbation), x);
  const normed = nn.layerNorm(w.sub('norm2'), x, 1e-5);
  const attn2 = `${name}.attn2`;
  const image = ctx.imagePrompt && ((q: T) => ctx.imagePrompt!(attn2, q, layer.heads, ctx.upcast));
  const plain = () => crossAttention(w.sub('attn2'), normed, text, layer.heads, ctx.upcast, image);
  const cross = ctx.crossAttention ? ctx.crossAttention({ layer, weights: w.sub('attn2'), hidden: normed, text, grid, upcast: ctx.upcast, plain }) : plain();
  x = op.add(cross, x);
  const ffIn = nn.layerNorm(w.sub('norm3'), x, 1e-5);
  return op.inPieces([ffIn, x], 1, ctx.memory?.ffPieces ?? 1, ([piece, residual]) => geglu(w.sub('ff'), piece, residual, ctx.kernels));
}

/** Text cross-attention; `image` adds IP-Adapter's attention of the same query before to_out. */
function crossAttention(w: Weights, x: T, text: T, heads: number, upcast: boolean, image?: (q: T) => T): T {
  const channels = x.dim(-1);
  const q = nn.linear(w.sub('to_q'), x, channels);
  const k = nn.linear(w.sub('to_k'), text, channels);
  const v = nn.linear(w.sub('to_v'), text, channels);
  const attended = attend(q, k, v, heads, { fp32: upcast });
  return nn.linear(w.sub('to_out.0'), image ? op.add(attended, image(q)) : attended, channels);
}

/**
 * FeedForward with GEGLU, plus the residual. Split + Gelu + Mul in the plain graph (BiasSplitGelu fails in
 * fp16 on WebGPU); the CUDA provider's BiasSplitGelu and BiasAdd kernels where it has them.
 */
function geglu(w: Weights, x: T, residual: T, kernels?: FusedKernels): T {
  const channels = x.dim(-1);
  const proj = w.sub('net.0.proj');
  if (kernels?.biasSplitGelu) {
    const gated = op.biasSplitGelu(nn.linear(proj, x, undefined, false), proj.get('bias'));
    return nn.linearPlus(w.sub('net.2'), gated, residual, channels, kernels.biasAdd);
  }
  const projected = nn.linear(proj, x);
  const inner = projected.dim(-1) / 2;
  const [hidden, gate] = op.split(projected, -1, [inner, inner]);
  return nn.linearPlus(w.sub('net.2'), op.mul(hidden, op.gelu(gate)), residual, channels, kernels?.biasAdd);
}
