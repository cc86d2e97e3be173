// PixArt's self-attention in the forms a checkpoint can hold, chosen per layer: softmax (diffusers' attn1),
// PixArt-Σ's KV-compressed softmax (the config's kv_compress_config), and LiT's linear attention (the layer
// has LiT's `dwc` weights). Every form ends in the shared head perturbation, so PAG and SoftPAG work on all
// of them; a perturbed head's identity output is its V over every token (uncompressed, as diffusers' PAG
// processor computes `to_v` of the hidden states).
import type { T } from '../../onnx/graph.ts';
import * as nn from '../../onnx/nn.ts';
import * as op from '../../onnx/ops.ts';
import type { TensorSource, Weights } from '../../onnx/weights.ts';
import { attend } from '../../attention/mha.ts';
import { finishAttention, type HeadPerturbation } from '../../attention/head-perturbation.ts';
import { linearAttention } from '../../attention/lit-linear.ts';
import { rows, type SelfAttentionLayer } from '../../attention/self-attention.ts';
import { pixartWidth, type KvCompress, type PixArtConfig } from './config.ts';

/** LiT's own constants: 1e-6 after the ReLU feature map and in the normaliser. */
const LIT_EPS = 1e-6;
/** nn.LayerNorm's default, which PixArt-Σ's compression norm uses. */
const KV_NORM_EPS = 1e-5;

export interface PixArtSelfAttentionContext {
  layer: SelfAttentionLayer;
  /** The token grid (latent / patch size). */
  grid: { height: number; width: number };
  kvCompress?: KvCompress;
  perturbation?: HeadPerturbation;
}

const isLit = (source: TensorSource, k: number) => source.has(`transformer_blocks.${k}.attn1.dwc.weight`);

/** Self-attention layers in execution order, each with its own head count (LiT layers have few heads). */
export function pixartAttentionLayers(cfg: PixArtConfig, source: TensorSource): SelfAttentionLayer[] {
  const channels = pixartWidth(cfg);
  return Array.from({ length: cfg.numLayers }, (_, index) => {
    const name = `transformer_blocks.${index}.attn1`;
    const heads = isLit(source, index) ? channels / source.info(`${name}.dwc.weight`).shape[0] : cfg.heads;
    return { index, name, heads, channels, downsample: 1 };
  });
}

/** [B, N, C] tokens → [B, n, C] on a grid `s` times coarser, as AttentionKVCompress.downsample_2d. */
function compress(w: Weights, x: T, grid: { height: number; width: number }, kv: KvCompress): T {
  const [b, n, c] = [x.dim(0), x.dim(1), x.dim(2)];
  const s = kv.scaleFactor;
  if (kv.sampling === 'uniform_every') return op.slice(x, [1], [0], [n], [s]);
  if (grid.height % s || grid.width % s) {
    throw new Error(`PixArt-Σ KV compression: the ${grid.height}×${grid.width} token grid is not divisible by its scale_factor ${s}; choose a size whose latent is a multiple of ${2 * s}`);
  }
  const [h, wd] = [grid.height / s, grid.width / s];
  if (kv.sampling === 'conv') {
    if (!w.has('sr.weight') || !w.has('norm.weight')) {
      throw new Error(`PixArt-Σ KV compression "conv" needs the trained ${w.key('sr')} and ${w.key('norm')} weights, which this checkpoint lacks; set kv_compress_config.sampling to "uniform" (needs no weights) or use the checkpoint trained with conv compression`);
    }
    const image = op.transpose(op.reshape(x, [b, grid.height, grid.width, c]), [0, 3, 1, 2]);
    const down = nn.conv2d(w.sub('sr'), image, { stride: s, groups: c });
    const tokens = op.transpose(op.reshape(down, [b, c, h * wd]), [0, 2, 1]);
    return op.layerNorm(tokens, w.get('norm.weight', [c]), w.get('norm.bias', [c]), KV_NORM_EPS);
  }
  // 'ave' is torch's nearest interpolation by 1/s, which picks the same top-left token of each s×s cell as 'uniform'.
  const picked = op.slice(op.reshape(x, [b, grid.height, grid.width, c]), [1, 2], [0, 0], [grid.height, grid.width], [s, s]);
  return op.reshape(picked, [b, h * wd, c]);
}

/** One block's self-attention output (after its projection) for the modulated hidden states `x`. */
export function pixartSelfAttention(w: Weights, x: T, c: PixArtSelfAttentionContext): T {
  const d = c.layer.channels;
  if (w.has('dwc.weight')) {
    const kernel = w.shapeOf('dwc.weight')[2];
    return finishAttention(linearAttention(w, x, { heads: c.layer.heads, kernel, eps: LIT_EPS, featureEps: LIT_EPS, grid: c.grid }), c.layer, c.perturbation);
  }
  const [q, k, v] = ['to_q', 'to_k', 'to_v'].map((n) => nn.linear(w.sub(n), x, d));
  const [kk, vv] = c.kvCompress ? [compress(w, k, c.grid, c.kvCompress), compress(w, v, c.grid, c.kvCompress)] : [k, v];
  const heads = attend(q, kk, vv, c.layer.heads);
  const project = (o: T) => nn.linear(w.sub('to_out.0'), o, d);
  return finishAttention({ heads, value: (start, count) => rows(v, start, count), project }, c.layer, c.perturbation);
}
