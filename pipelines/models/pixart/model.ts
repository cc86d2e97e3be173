// PixArt-α / Σ (diffusers' PixArtTransformer2DModel): patches with a scaled sin-cos position table,
// adaLN-single (one timestep MLP shared by all blocks, each block adding its own scale_shift_table),
// self-attention (softmax, Σ's KV-compressed or LiT's linear: ./self-attention.ts), cross-attention to
// projected T5 features (masked), GELU-tanh MLP, unpatchify.
import { Graph, type T } from '../../onnx/graph.ts';
import * as nn from '../../onnx/nn.ts';
import * as op from '../../onnx/ops.ts';
import { Weights, type TensorSource } from '../../onnx/weights.ts';
import { headWeightsInput, type HeadPerturbation } from '../../attention/head-perturbation.ts';
import type { SelfAttentionLayer } from '../../attention/self-attention.ts';
import { sincosPosEmbed2d } from '../dit/embeddings.ts';
import { unpatchify } from '../dit/model.ts';
import type { TextLatentGraphShape } from '../text-latent-graph.ts';
import { pixartWidth, type PixArtConfig } from './config.ts';
import { pixartAttentionLayers, pixartSelfAttention } from './self-attention.ts';

export const PIXART_OUTPUT = 'out';
const f32 = Math.fround;

/**
 * diffusers' get_2d_sincos_pos_embed for a rows×cols grid: positions j / (cols / base) / scale in
 * float32 (as torch computes them), sin-cos in float64; the first half encodes the column.
 */
export function pixartPosEmbed(dim: number, rows: number, cols: number, base: number, scale: number): Float32Array {
  return sincosPosEmbed2d(dim, rows, cols, (i, n) => f32(f32(i / f32(n / base)) / f32(scale)));
}

const mlp = (w: Weights, x: T) => nn.linear(w.sub('linear_2'), op.silu(nn.linear(w.sub('linear_1'), x)));
const sinusoid = (w: Weights, t: T) => op.cast(nn.timestepEmbedding(t, 256, { flipSinToCos: true, downscaleFreqShift: 0 }), w.dtype);

/** The adaLN-single conditioning [B, D] (before its SiLU + Linear) from timesteps and, for α, size conditions. */
function conditioning(w: Weights, t: T, sizes?: { resolution: T; aspect: T }): T {
  const emb = mlp(w.sub('timestep_embedder'), sinusoid(w, t));
  if (!sizes) return emb;
  const b = t.dim(0);
  const res = op.reshape(mlp(w.sub('resolution_embedder'), sinusoid(w, op.reshape(sizes.resolution, [2 * b]))), [b, -1]);
  const ar = mlp(w.sub('aspect_ratio_embedder'), sinusoid(w, op.reshape(sizes.aspect, [b])));
  return op.add(emb, op.concat([res, ar], 1));
}

/** `table` [n, D] + per-sample [B, n·D] → n tensors [B, 1, D]. */
function shifts(table: T, perSample: T, n: number): T[] {
  const [b, d] = [perSample.dim(0), table.dim(1)];
  return op.split(op.add(op.unsqueeze(table, [0]), op.reshape(perSample, [b, n, d])), 1, Array(n).fill(1));
}

const norm = (x: T) => op.layerNorm(x, undefined, undefined, 1e-6);
const modulate = (x: T, shift: T, scale: T) => op.add(op.mul(norm(x), op.add(scale, 1)), shift);

interface BlockContext {
  cfg: PixArtConfig;
  layer: SelfAttentionLayer;
  grid: { height: number; width: number };
  perturbation?: HeadPerturbation;
}

function block(w: Weights, x: T, text: T, textBias: T | undefined, t6: T, c: BlockContext): T {
  const cfg = c.cfg;
  const d = pixartWidth(cfg);
  const [shiftMsa, scaleMsa, gateMsa, shiftMlp, scaleMlp, gateMlp] = shifts(w.get('scale_shift_table', [6, d]), t6, 6);
  const kvCompress = cfg.kvCompress?.layers.includes(c.layer.index) ? cfg.kvCompress : undefined;
  const self = pixartSelfAttention(w.sub('attn1'), modulate(x, shiftMsa, scaleMsa), { layer: c.layer, grid: c.grid, kvCompress, perturbation: c.perturbation });
  let h = op.add(x, op.mul(gateMsa, self));
  // PixArt's cross-attention reads the hidden states unnormalised (diffusers skips norm2 for ada_norm_single).
  const a2 = w.sub('attn2');
  const cross = op.multiHeadAttention(nn.linear(a2.sub('to_q'), h, d), nn.linear(a2.sub('to_k'), text, d), nn.linear(a2.sub('to_v'), text, d), cfg.heads, { attentionBias: textBias });
  h = op.add(h, nn.linear(a2.sub('to_out.0'), cross, d));
  const ff = nn.linear(w.sub('ff.net.2'), op.gelu(nn.linear(w.sub('ff.net.0.proj'), modulate(h, shiftMlp, scaleMlp), 4 * d), 'tanh'), d);
  return op.add(h, op.mul(gateMlp, ff));
}

export interface PixArtInputs {
  x: T;
  t: T;
  /** T5 features [B, L, caption_channels] and their mask [B, L] (1 = token). */
  text: T;
  mask?: T;
  /** PixArt-α: resolution [B, 2] (height, width in pixels) and aspect ratio [B, 1]. */
  sizes?: { resolution: T; aspect: T };
  perturbation?: HeadPerturbation;
}

export function pixartForward(w: Weights, cfg: PixArtConfig, i: PixArtInputs): T {
  const p = cfg.patchSize;
  const d = pixartWidth(cfg);
  const [b, c, height, width] = i.x.shape.map((_, k) => i.x.dim(k));
  const [rows, cols] = [height / p, width / p];
  const patches = op.conv2d(i.x, w.get('pos_embed.proj.weight', [d, c, p, p]), w.get('pos_embed.proj.bias', [d]), { stride: p });
  const table = pixartPosEmbed(d, rows, cols, cfg.sampleSize / p, cfg.interpolationScale);
  let x = op.add(op.transpose(op.reshape(patches, [b, d, rows * cols]), [0, 2, 1]), op.cast(w.graph.constant('float32', [1, rows * cols, d], table, 'pos_embed'), w.dtype));

  const cond = conditioning(w.sub('adaln_single.emb'), i.t, i.sizes);
  const t6 = nn.linear(w.sub('adaln_single.linear'), op.silu(cond), 6 * d);
  const cp = w.sub('caption_projection');
  const text = nn.linear(cp.sub('linear_2'), op.gelu(nn.linear(cp.sub('linear_1'), i.text, d), 'tanh'), d);
  // diffusers turns the mask into a bias of −10000 (not −∞) on padded keys.
  // ORT's attention_bias broadcasts over heads but not over queries: expand it to every image token.
  const textBias = i.mask ? op.expand(op.unsqueeze(op.mul(op.sub(1, op.cast(i.mask, x.dtype)), -10000), [1, 2]), [b, 1, rows * cols, i.text.dim(1)]) : undefined;
  const layers = pixartAttentionLayers(cfg, w.file);
  const grid = { height: rows, width: cols };
  for (const layer of layers) {
    x = w.graph.scope(`block${layer.index}`, () => block(w.sub(`transformer_blocks.${layer.index}`), x, text, textBias, t6, { cfg, layer, grid, perturbation: i.perturbation }));
  }

  // The final table is added to the conditioning itself (broadcast over its two rows), not to a projection.
  const [shift, scale] = op.split(op.add(op.unsqueeze(w.get('scale_shift_table', [2, d]), [0]), op.unsqueeze(cond, [1])), 1, [1, 1]);
  const out = nn.linear(w.sub('proj_out'), modulate(x, shift, scale), p * p * cfg.outChannels);
  return unpatchify(out, rows, cols, p, cfg.outChannels);
}

export interface PixArtGraphOptions extends TextLatentGraphShape {
  /** The last `perturbedRows` rows of the batch get head perturbation (PAG / SoftPAG) from a `head_weights` input. */
  perturbedRows?: number;
}

/**
 * Inputs hidden_states, timestep, encoder_hidden_states, encoder_attention_mask (int32) (+ resolution,
 * aspect_ratio for α; + head_weights with perturbed rows) → `out`.
 */
export function buildPixArtGraph(source: TensorSource, cfg: PixArtConfig, o: PixArtGraphOptions): Graph {
  const dtype = o.dtype ?? 'float32';
  const g = new Graph('pixart');
  const x = g.input('hidden_states', 'float32', [o.batch, cfg.inChannels, o.height, o.width]);
  const t = g.input('timestep', 'float32', [o.batch]);
  const text = g.input('encoder_hidden_states', 'float32', [o.batch, o.textLength, cfg.captionChannels]);
  const mask = g.input('encoder_attention_mask', 'int32', [o.batch, o.textLength]);
  const sizes = cfg.additionalConditions
    ? { resolution: g.input('resolution', 'float32', [o.batch, 2]), aspect: g.input('aspect_ratio', 'float32', [o.batch, 1]) }
    : undefined;
  const perturbation = o.perturbedRows ? headWeightsInput(g, pixartAttentionLayers(cfg, source), o.perturbedRows) : undefined;
  const w = new Weights(g, source, dtype);
  const out = pixartForward(w, cfg, { x: op.cast(x, dtype), t, text: op.cast(text, dtype), mask, sizes, perturbation });
  g.output(op.cast(out, 'float32'), PIXART_OUTPUT);
  return g;
}
