// The class-conditional DiT (Peebles & Xie): patchify → +pos → adaLN-zero transformer blocks → unpatchify.
import type { Graph, T } from '../../onnx/graph.ts';
import { GraphError } from '../../onnx/graph.ts';
import * as op from '../../onnx/ops.ts';
import { Weights, type TensorSource } from '../../onnx/weights.ts';
import { finalLayer, ditBlock } from './block.ts';
import { buildClassConditionalGraph, type ClassConditionalGraphOptions } from './class-conditional.ts';
import { assertCheckpointFits } from './checkpoint-fit.ts';
import { ditHasNullClass, ditMlpHidden, ditOutChannels, ditTensorShapes, type DiTConfig } from './config.ts';
import { labelEmbedder, sincosPosEmbed2d, timestepEmbedder } from './embeddings.ts';

/** DiT.forward on x [B, C, H, W] (compute dtype), t float32 [B], y int64 [B] → [B, outChannels, H, W]. */
export function ditForward(w: Weights, cfg: DiTConfig, x: T, t: T, y: T): T {
  const p = cfg.patch_size;
  const d = cfg.hidden_size;
  const [, channels, height, width] = x.shape.map((_, i) => x.dim(i));
  if (channels !== cfg.in_channels) throw new GraphError(`DiT: input has ${channels} channels, the config says in_channels=${cfg.in_channels}`);
  if (height % p || width % p) throw new GraphError(`DiT: latent ${height}×${width} is not divisible by patch_size=${p}`);
  const rows = height / p;
  const cols = width / p;

  const patches = op.conv2d(x, w.get('x_embedder.proj.weight', [d, channels, p, p]), w.get('x_embedder.proj.bias', [d]), { stride: p });
  let tokens = op.transpose(op.reshape(patches, [x.dim(0), d, rows * cols]), [0, 2, 1]);
  tokens = op.add(tokens, positionTable(w, rows, cols, d));

  const tEmb = timestepEmbedder(w.sub('t_embedder'), t);
  const yEmb = labelEmbedder(w.sub('y_embedder.embedding_table'), y, cfg.num_classes + (ditHasNullClass(cfg) ? 1 : 0), d);
  const c = op.add(tEmb, yEmb);

  for (let i = 0; i < cfg.depth; i++) tokens = ditBlock(w.sub(`blocks.${i}`), tokens, c, cfg.num_heads, ditMlpHidden(cfg));
  const outChannels = ditOutChannels(cfg);
  const perToken = finalLayer(w.sub('final_layer'), tokens, c, p * p * outChannels);
  return unpatchify(perToken, rows, cols, p, outChannels);
}

/**
 * The checkpoint's `pos_embed` when it was stored for this grid (it is a saved buffer, and fine-tunes
 * may have changed it); otherwise the fixed sin-cos table computed here, e.g. for another resolution.
 */
function positionTable(w: Weights, rows: number, cols: number, d: number): T {
  if (w.has('pos_embed')) {
    const [, n, width] = w.shapeOf('pos_embed');
    if (n === rows * cols && width === d) return w.get('pos_embed', [1, n, d]);
  }
  const table = w.graph.constant('float32', [1, rows * cols, d], sincosPosEmbed2d(d, rows, cols), 'pos_embed_sincos');
  return op.cast(table, w.dtype);
}

/** [B, rows·cols, p·p·C] → [B, C, rows·p, cols·p] (einsum nhwpqc → nchpwq). */
export function unpatchify(x: T, rows: number, cols: number, p: number, c: number): T {
  const b = x.dim(0);
  const grid = op.reshape(x, [b, rows, cols, p, p, c]);
  return op.reshape(op.transpose(grid, [0, 5, 1, 3, 2, 4]), [b, c, rows * p, cols * p]);
}

export type DiTGraphOptions = Omit<ClassConditionalGraphOptions, 'guidance'> & {
  /** Build forward_with_cfg (null class = num_classes); `channels` guided, 3 by default as in the reference. */
  guidance?: { channels?: number };
};

/** A graph with inputs x, t, y (+ cfg_scale) and output `out`, weights read from `source`. */
export function buildDiTGraph(source: TensorSource, cfg: DiTConfig, o: DiTGraphOptions): Graph {
  if (o.guidance && !ditHasNullClass(cfg)) {
    throw new GraphError('DiT: guidance needs the null-class row of the label table, but class_dropout_prob is 0 in this config');
  }
  const shapes = ditTensorShapes(cfg);
  delete shapes.pos_embed; // depends on the grid; positionTable() handles it
  assertCheckpointFits(source, shapes, `DiT (hidden_size ${cfg.hidden_size}, depth ${cfg.depth}, patch ${cfg.patch_size})`);
  const guidance = o.guidance ? { nullClass: cfg.num_classes, channels: o.guidance.channels } : undefined;
  return buildClassConditionalGraph('dit', cfg.in_channels, { ...o, guidance }, (x, t, y) => {
    const w = new Weights(x.graph, source, o.dtype ?? 'float32');
    return ditForward(w, cfg, x, t, y);
  });
}
