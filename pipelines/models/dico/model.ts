// DiCo: a 3-level U-shaped ConvNet of DiCo blocks, conditioned per level on timestep + class label.
import type { Graph, T } from '../../onnx/graph.ts';
import { GraphError } from '../../onnx/graph.ts';
import * as nn from '../../onnx/nn.ts';
import * as op from '../../onnx/ops.ts';
import { Weights, type TensorSource } from '../../onnx/weights.ts';
import { assertCheckpointFits } from '../dit/checkpoint-fit.ts';
import { buildClassConditionalGraph } from '../dit/class-conditional.ts';
import { labelEmbedder, timestepEmbedder } from '../dit/embeddings.ts';
import type { DiTGraphOptions } from '../dit/model.ts';
import { dicoBlock, finalLayer } from './block.ts';
import { dicoLabelRows, dicoTensorShapes, STAGES, stageWidth, type DiCoConfig, type Stage } from './config.ts';
import { downsample, upsample } from './resample.ts';

/** DiCo.forward on x [N, C, H, W] (compute dtype), t float32 [N], y int64 [N] → [N, outChannels, H, W]. */
export function dicoForward(w: Weights, cfg: DiCoConfig, x: T, t: T, y: T): T {
  const [, channels, height, width] = x.shape.map((_, i) => x.dim(i));
  if (channels !== cfg.in_channels) throw new GraphError(`DiCo: input has ${channels} channels, the config says in_channels=${cfg.in_channels}`);
  if (height % 4 || width % 4) throw new GraphError(`DiCo: latent ${height}×${width} must be divisible by 4 (two 2× downsamples); image sides must be multiples of 32`);

  // One condition per level width: c1 (C), c2 (2C), c3 (4C).
  const rows = dicoLabelRows(cfg);
  const cond = [1, 2, 3].map((level) => {
    const width = cfg.hidden_size * 2 ** (level - 1);
    const tEmb = timestepEmbedder(w.sub(`t_embedder_${level}`), t);
    return op.add(tEmb, labelEmbedder(w.sub(`y_embedder.embedding_table_${level - 1}`), y, rows, width));
  });
  const [c1, c2, c3] = cond;
  const stage = (name: Stage, h: T, c: T) => {
    const depth = cfg.depth[STAGES.indexOf(name)];
    for (let i = 0; i < depth; i++) h = dicoBlock(w.sub(`${name}.${i}`), h, c);
    if (h.dim(1) !== stageWidth(cfg, name)) throw new GraphError(`DiCo: ${name} runs at width ${h.dim(1)}, expected ${stageWidth(cfg, name)}`);
    return h;
  };

  const enc1 = stage('encoder_level_1', nn.conv2d(w.sub('x_embedder.proj'), x, { padding: 1 }), c1);
  const enc2 = stage('encoder_level_2', downsample(w.sub('down1_2'), enc1), c2);
  const mid = stage('latent', downsample(w.sub('down2_3'), enc2), c3);
  const dec2In = nn.conv2d(w.sub('reduce_chan_level2'), op.concat([upsample(w.sub('up3_2'), mid), enc2], 1));
  const dec2 = stage('decoder_level_2', dec2In, c2);
  const dec1In = nn.conv2d(w.sub('reduce_chan_level1'), op.concat([upsample(w.sub('up2_1'), dec2), enc1], 1));
  const dec1 = stage('decoder_level_1', dec1In, c2);
  return finalLayer(w.sub('final_layer'), dec1, c2);
}

/** A graph with inputs x, t, y (+ cfg_scale) and output `out`; guidance is the reference forward_with_cfg. */
export function buildDiCoGraph(source: TensorSource, cfg: DiCoConfig, o: DiTGraphOptions): Graph {
  if (o.guidance && cfg.class_dropout_prob === 0) {
    throw new GraphError('DiCo: guidance needs the null-class row of the label tables, but class_dropout_prob is 0 in this config');
  }
  assertCheckpointFits(source, dicoTensorShapes(cfg), `DiCo (hidden_size ${cfg.hidden_size}, depth [${cfg.depth.join(', ')}])`);
  const guidance = o.guidance ? { nullClass: cfg.num_classes, channels: o.guidance.channels } : undefined;
  return buildClassConditionalGraph('dico', cfg.in_channels, { ...o, guidance }, (x, t, y) => {
    const w = new Weights(x.graph, source, o.dtype ?? 'float32');
    return dicoForward(w, cfg, x, t, y);
  });
}
