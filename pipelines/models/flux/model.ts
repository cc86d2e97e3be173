// The FLUX.1 transformer (diffusers' FluxTransformer2DModel): latents packed 2×2 into tokens, double-stream
// blocks (SD3's joint block with FLUX's attention), single-stream blocks over [text, image] (parallel
// attention and MLP), continuous adaLN, unpacked back to latents. Predicts the flow velocity.
import { Graph, type T } from '../../onnx/graph.ts';
import * as nn from '../../onnx/nn.ts';
import * as op from '../../onnx/ops.ts';
import { Weights, type TensorSource } from '../../onnx/weights.ts';
import { headWeightsInput, type HeadPerturbation } from '../../attention/head-perturbation.ts';
import type { SelfAttentionLayer } from '../../attention/self-attention.ts';
import type { AttentionContext } from '../mmdit/attention.ts';
import { jointBlock } from '../mmdit/block.ts';
import { conditioning, modulate, modulation } from '../mmdit/embeddings.ts';
import type { TextLatentGraphShape } from '../text-latent-graph.ts';
import { fluxJointAttention, fluxSingleAttention, type Rope } from './attention.ts';
import { fluxWidth, type FluxConfig } from './config.ts';
import { ropeConstants, ropeTables } from './rope.ts';

export const FLUX_OUTPUT = 'out';

/** Head guidance's layers in execution order: each double block's attn, then each single block's. */
export function fluxAttentionLayers(cfg: FluxConfig): SelfAttentionLayer[] {
  const names = [
    ...Array.from({ length: cfg.numLayers }, (_, i) => `transformer_blocks.${i}.attn`),
    ...Array.from({ length: cfg.numSingleLayers }, (_, i) => `single_transformer_blocks.${i}.attn`),
  ];
  return names.map((name, index) => ({ index, name, heads: cfg.heads, channels: fluxWidth(cfg), downsample: 1 }));
}

/** [B, C, H, W] → [B, (H/2)·(W/2), C·4], FluxPipeline's _pack_latents. */
function pack(x: T): T {
  const [b, c, h, w] = [x.dim(0), x.dim(1), x.dim(2), x.dim(3)];
  return op.reshape(op.transpose(op.reshape(x, [b, c, h / 2, 2, w / 2, 2]), [0, 2, 4, 1, 3, 5]), [b, (h / 2) * (w / 2), c * 4]);
}

/** The inverse of pack (FluxPipeline's _unpack_latents). */
function unpack(x: T, rows: number, cols: number): T {
  const [b, channels] = [x.dim(0), x.dim(2) / 4];
  return op.reshape(op.transpose(op.reshape(x, [b, rows, cols, channels, 2, 2]), [0, 3, 1, 4, 2, 5]), [b, channels, rows * 2, cols * 2]);
}

/** fp16 graphs clip the residual streams as diffusers does (an overflow becomes ±65504, not inf). */
const clip16 = (x: T) => (x.dtype === 'float16' ? op.clip(x, -65504, 65504) : x);

function singleBlock(w: Weights, x: T, temb: T, a: AttentionContext, rope: Rope): T {
  const width = x.dim(2);
  const [shift, scale, gate] = modulation(w.sub('norm'), temb, 3);
  const normed = modulate(x, shift, scale);
  const mlp = op.gelu(nn.linear(w.sub('proj_mlp'), normed, 4 * width), 'tanh');
  const attn = fluxSingleAttention(w.sub('attn'), normed, a, rope);
  const out = nn.linear(w.sub('proj_out'), op.concat([attn, mlp], -1), width);
  return clip16(op.add(x, op.mul(op.unsqueeze(gate, [1]), out)));
}

/**
 * x [B, C, H, W] latents, context [B, L, joint_attention_dim] T5 features, pooled [B, P] CLIP-L, t [B] and
 * guidance [B] (dev only) as diffusers' transformer takes them (t in 0–1) → velocity [B, C, H, W].
 */
export function fluxForward(w: Weights, cfg: FluxConfig, x: T, context: T, pooled: T, t: T, guidance: T | undefined, perturbation?: HeadPerturbation): T {
  if (x.dim(2) % 2 || x.dim(3) % 2) throw new Error(`FLUX: latent ${x.dim(2)}×${x.dim(3)} must be even on both sides (it is packed 2×2)`);
  const [rows, cols] = [x.dim(2) / 2, x.dim(3) / 2];
  const width = fluxWidth(cfg);
  const l = context.dim(1);
  let image = nn.linear(w.sub('x_embedder'), pack(x), width);
  let text = nn.linear(w.sub('context_embedder'), context, width);
  const thousand = (v: T) => op.mul(v, 1000);
  const temb = conditioning(w.sub('time_text_embed'), thousand(t), pooled, guidance && thousand(guidance));
  const rope = ropeConstants(image, ropeTables(cfg.axesDimsRope, l, rows, cols), l + rows * cols);
  const layers = fluxAttentionLayers(cfg);
  const attention = (i: number): AttentionContext => ({ layer: layers[i], qkNorm: true, perturbation });
  const joint = (wa: Weights, im: T, tx: T, c: AttentionContext) => fluxJointAttention(wa, im, tx, c, rope);
  for (let i = 0; i < cfg.numLayers; i++) {
    ({ image, text } = x.graph.scope(`double${i}`, () => jointBlock(w.sub(`transformer_blocks.${i}`), image, text, temb, { attn: attention(i), joint }, false)));
    text = clip16(text);
  }
  let sequence = op.concat([text, image], 1);
  for (let i = 0; i < cfg.numSingleLayers; i++) {
    sequence = x.graph.scope(`single${i}`, () => singleBlock(w.sub(`single_transformer_blocks.${i}`), sequence, temb, attention(cfg.numLayers + i), rope));
  }
  image = op.split(sequence, 1, [l, rows * cols])[1];
  const [scale, shift] = modulation(w.sub('norm_out'), temb, 2);
  return unpack(nn.linear(w.sub('proj_out'), modulate(image, shift, scale), cfg.outChannels), rows, cols);
}

export interface FluxGraphOptions extends TextLatentGraphShape {
  /** The last `perturbedRows` rows of the batch get head perturbation from a `head_weights` input. */
  perturbedRows?: number;
}

/** Inputs hidden_states, encoder_hidden_states, pooled_projections, timestep, guidance (dev) (+ head_weights), float32 → `out`. */
export function buildFluxGraph(source: TensorSource, cfg: FluxConfig, o: FluxGraphOptions): Graph {
  const dtype = o.dtype ?? 'float32';
  const g = new Graph('flux');
  const x = g.input('hidden_states', 'float32', [o.batch, cfg.inChannels / 4, o.height, o.width]);
  const context = g.input('encoder_hidden_states', 'float32', [o.batch, o.textLength, cfg.jointAttentionDim]);
  const pooled = g.input('pooled_projections', 'float32', [o.batch, cfg.pooledProjectionDim]);
  const t = g.input('timestep', 'float32', [o.batch]);
  const guidance = cfg.guidanceEmbeds ? g.input('guidance', 'float32', [o.batch]) : undefined;
  const perturbation = o.perturbedRows ? headWeightsInput(g, fluxAttentionLayers(cfg), o.perturbedRows) : undefined;
  const w = new Weights(g, source, dtype);
  const out = fluxForward(w, cfg, op.cast(x, dtype), op.cast(context, dtype), op.cast(pooled, dtype), t, guidance, perturbation);
  g.output(op.cast(out, 'float32'), FLUX_OUTPUT);
  return g;
}
