// emoji-DiT and emoji-LiT (training/ARCHITECTURE.md § emoji-dit and emoji-lit): patch embedding,
// adaLN-single from timestep + pooled text, blocks with text cross-attention, final layer, unpatchify.
// The two differ only in the blocks' self-attention (softmax against ReLU linear + depthwise conv).
import { Graph, type DType, type T } from '../../onnx/graph.ts';
import { conv2d, layerNorm, linear } from '../../onnx/nn.ts';
import * as op from '../../onnx/ops.ts';
import { Weights, type TensorSource } from '../../onnx/weights.ts';
import { headWeightsInput } from '../../attention/head-perturbation.ts';
import type { SelfAttentionLayer } from '../../attention/self-attention.ts';
import { emojiTokenGrid, type EmojiTransformerConfig } from './config.ts';
import { emojiCondition } from './conditioning.ts';
import { emojiDitBlock, modulate, type EmojiBlockContext } from './dit-block.ts';
import { keyMaskBias } from './key-mask.ts';

export interface EmojiDiTOptions {
  batch: number;
  /** Rows at the end of the batch that take the `head_weights` perturbation input (0: no such input). */
  perturbedRows?: number;
  /** Compute dtype (LiT's linear attention stays float32); inputs and `out` are float32 either way. */
  dtype?: DType;
  /** Latent side; the checkpoint's pos_embed must have that grid. Default: the config's latent_size. */
  latentSize?: number;
  /** Text tokens per prompt. Default 24 (emoji-text's max_len). */
  textLength?: number;
  /** Self-attention layers replaced by PAG's identity attention on every row. */
  identityLayers?: readonly number[];
  /** Replaces every block's self-attention (emoji-DiT only): IR-Diffusion's story attention. */
  selfAttention?: EmojiBlockContext['selfAttention'];
  /** Replaces every block's text cross-attention. */
  crossAttention?: EmojiBlockContext['crossAttention'];
}

/** The self-attention layers in execution order, as head selection (`studio heads list`) sees them. */
export function emojiDitLayers(cfg: EmojiTransformerConfig): SelfAttentionLayer[] {
  const heads = cfg.self_attention === 'relu-linear' ? cfg.linear_heads : cfg.num_heads;
  return Array.from({ length: cfg.depth }, (_, index) => ({
    index,
    name: `blocks.${index}.attn`,
    heads,
    channels: cfg.hidden_size,
    downsample: cfg.patch_size,
  }));
}

function checkOptions(cfg: EmojiTransformerConfig, o: EmojiDiTOptions): void {
  const what = `${cfg.architecture} graph`;
  if (!Number.isInteger(o.batch) || o.batch < 1) throw new RangeError(`${what}: batch ${o.batch} must be a positive integer`);
  const rows = o.perturbedRows ?? 0;
  if (!Number.isInteger(rows) || rows < 0 || rows > o.batch) throw new RangeError(`${what}: perturbedRows ${rows} must be an integer from 0 to the batch size ${o.batch}`);
  for (const l of o.identityLayers ?? []) {
    if (!Number.isInteger(l) || l < 0 || l >= cfg.depth) throw new RangeError(`${what}: identity layer ${l} does not exist (layers 0–${cfg.depth - 1})`);
  }
  if (o.selfAttention && cfg.self_attention !== 'softmax') throw new RangeError(`${what}: a self-attention replacement needs emoji-dit's softmax attention`);
  if (o.selfAttention && o.identityLayers?.length) throw new RangeError(`${what}: identityLayers and a self-attention replacement cannot be combined`);
}

/** [B, N, p·p·C] with features ordered (p, q, ch) → [B, C, g·p, g·p]. */
function unpatchify(y: T, batch: number, grid: number, patch: number, channels: number): T {
  const six = op.reshape(y, [batch, grid, grid, patch, patch, channels]);
  return op.reshape(op.transpose(six, [0, 5, 1, 3, 2, 4]), [batch, channels, grid * patch, grid * patch]);
}

export function buildEmojiDiT(source: TensorSource, cfg: EmojiTransformerConfig, o: EmojiDiTOptions): Graph {
  checkOptions(cfg, o);
  const g = new Graph(cfg.architecture);
  const w = new Weights(g, source, o.dtype ?? 'float32');
  const { batch } = o;
  const width = cfg.hidden_size;
  const latent = o.latentSize ?? cfg.latent_size;
  const grid = emojiTokenGrid(cfg, latent);
  const tokens = grid * grid;
  const textLength = o.textLength ?? 24;

  const x = g.input('x', 'float32', [batch, cfg.in_channels, latent, latent]);
  const t = g.input('t', 'float32', [batch]);
  const text = g.input('text_tokens', 'float32', [batch, textLength, cfg.text_dim]);
  const textMask = g.input('text_mask', 'float32', [batch, textLength]);
  const pooled = g.input('text_pooled', 'float32', [batch, cfg.text_dim]);
  const layers = emojiDitLayers(cfg);
  const perturbation = o.perturbedRows ? headWeightsInput(g, layers, o.perturbedRows) : undefined;

  const patches = conv2d(w.sub('x_embedder.proj'), op.cast(x, w.dtype), { stride: cfg.patch_size });
  let h = op.transpose(op.reshape(patches, [batch, width, tokens]), [0, 2, 1]);
  h = op.add(h, w.get('pos_embed', [1, tokens, width]));

  const c = emojiCondition(w, t, pooled, cfg.freq_dim);
  const mod = op.reshape(linear(w.sub('t_block.1'), op.silu(c), 6 * width), [batch, 6, width]);
  const ctx: EmojiBlockContext = {
    cfg,
    mod,
    text: op.cast(text, w.dtype),
    textBias: keyMaskBias(textMask, tokens, w.dtype),
    grid: { height: grid, width: grid },
    perturbation,
    identityLayers: new Set(o.identityLayers ?? []),
    selfAttention: o.selfAttention,
    crossAttention: o.crossAttention,
  };
  for (const layer of layers) h = g.scope(`blocks.${layer.index}`, () => emojiDitBlock(w.sub(`blocks.${layer.index}`), h, layer, ctx));

  const f = w.sub('final_layer');
  const [shift, scale] = op.split(op.add(op.unsqueeze(f.get('scale_shift_table', [2, width]), [0]), op.unsqueeze(c, [1])), 1, [1, 1]);
  const outFeatures = cfg.patch_size * cfg.patch_size * cfg.in_channels;
  const y = linear(f.sub('linear'), modulate(layerNorm(undefined, h, cfg.layer_norm_eps), shift, scale), outFeatures);
  g.output(op.cast(unpatchify(y, batch, grid, cfg.patch_size, cfg.in_channels), 'float32'), 'out');
  return g;
}
