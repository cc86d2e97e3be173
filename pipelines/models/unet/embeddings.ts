// The UNet's conditioning vector: sinusoidal timestep embedding → MLP, plus SDXL's `text_time`
// embedding (pooled text concatenated with the sinusoidal embedding of the six size/crop numbers).
import type { T } from '../../onnx/graph.ts';
import * as nn from '../../onnx/nn.ts';
import * as op from '../../onnx/ops.ts';
import type { Weights } from '../../onnx/weights.ts';
import type { UNetConfig } from './config.ts';

/** TimestepEmbedding: linear_1 → SiLU → linear_2. */
function mlp(w: Weights, x: T, dim: number): T {
  return nn.linear(w.sub('linear_2'), op.silu(nn.linear(w.sub('linear_1'), x, dim)), dim);
}

/** The embedding every resnet receives, [B, timeEmbedDim] in the compute dtype. */
export function conditioningEmbedding(w: Weights, cfg: UNetConfig, timestep: T, textTime?: { textEmbeds: T; timeIds: T }): T {
  const sinusoid = { flipSinToCos: cfg.flipSinToCos, downscaleFreqShift: cfg.freqShift };
  const tProj = op.cast(nn.timestepEmbedding(timestep, cfg.blockOutChannels[0], sinusoid), w.dtype);
  let emb = mlp(w.sub('time_embedding'), tProj, cfg.timeEmbedDim);
  if (cfg.textTime) {
    if (!textTime) throw new Error('SDXL UNet: text_embeds and time_ids are required');
    const { timeIds, textEmbeds } = textTime;
    const [batch, count] = [timeIds.dim(0), timeIds.dim(1)];
    const flat = nn.timestepEmbedding(op.reshape(timeIds, [batch * count]), cfg.textTime.timeEmbedDim, sinusoid);
    const timeEmbeds = op.reshape(flat, [batch, count * cfg.textTime.timeEmbedDim]);
    const joined = op.cast(op.concat([textEmbeds, timeEmbeds], -1), w.dtype);
    emb = op.add(emb, mlp(w.sub('add_embedding'), joined, cfg.timeEmbedDim));
  }
  return emb;
}
