// ControlNetModel as an ONNX graph: the UNet's encoder half (../unet/encoder.ts) on latents + the
// embedded control image, and a zero-initialised 1×1 conv per skip connection and after the mid block.
// Inputs: sample [B, 4, h, w], timestep [B], encoder_hidden_states [B, L, D] (+ text_embeds, time_ids for
// SDXL), controlnet_cond [B, C, 8h, 8w] in [0, 1], residual_scales [B, skips + 1] (each residual of a row
// is multiplied by its scale: the weight, guess mode's ramp, 0 for rows it must not touch).
// Outputs `down_residual_<i>` and `mid_residual`, float32: what buildUNet's residual inputs take.
import { Graph, type DType, type T } from '../../onnx/graph.ts';
import * as nn from '../../onnx/nn.ts';
import * as op from '../../onnx/ops.ts';
import { Weights, type TensorSource } from '../../onnx/weights.ts';
import { softmaxAttention } from '../../attention/softmax.ts';
import { conditioningEmbedding } from '../unet/embeddings.ts';
import { unetEncoder, skipShapes } from '../unet/encoder.ts';
import { declareUNetInputs, type UNetInputShape } from '../unet/inputs.ts';
import { selfAttentionLayers } from '../unet/layers.ts';
import { downResidualName, MID_RESIDUAL } from '../unet/unet.ts';
import type { TransformerContext } from '../unet/transformer.ts';
import { conditioningScale, type ControlNetConfig } from './config.ts';

export const CONTROL_IMAGE = 'controlnet_cond';
export const RESIDUAL_SCALES = 'residual_scales';

export interface ControlNetBuildOptions extends Omit<UNetInputShape, 'perturbedRows'> {
  dtype?: Extract<DType, 'float32' | 'float16'>;
}

/** Number of residuals (skips + mid), the width of the `residual_scales` input. */
export const residualCount = (cfg: ControlNetConfig): number => skipShapes(cfg.unet, 1, 1).down.length + 1;

/** The control image to the first block's width at latent size: conv → SiLU, (conv → SiLU) per block, conv. */
function conditioningImage(w: Weights, cfg: ControlNetConfig, image: T): T {
  const [first, ...rest] = cfg.embeddingChannels;
  void first;
  let x = op.silu(nn.conv2d(w.sub('conv_in'), image, { padding: 1 }));
  rest.forEach((_, i) => {
    x = op.silu(nn.conv2d(w.sub(`blocks.${2 * i}`), x, { padding: 1 }));
    x = op.silu(nn.conv2d(w.sub(`blocks.${2 * i + 1}`), x, { padding: 1, stride: 2 }));
  });
  return nn.conv2d(w.sub('conv_out'), x, { padding: 1 });
}

export function buildControlNet(source: TensorSource, cfg: ControlNetConfig, o: ControlNetBuildOptions): Graph {
  const g = new Graph('controlnet');
  const dtype = o.dtype ?? 'float32';
  const w = new Weights(g, source, dtype);
  const ucfg = cfg.unet;
  const layers = selfAttentionLayers(ucfg);
  const { sample, timestep, text: text32, textTime } = declareUNetInputs(g, ucfg, layers, o, source.path);
  const scale = conditioningScale(cfg);
  const image = g.input(CONTROL_IMAGE, 'float32', [o.batch, cfg.conditioningChannels, o.height * scale, o.width * scale]);
  const count = residualCount(cfg);
  const scales = g.input(RESIDUAL_SCALES, 'float32', [o.batch, count]);
  const text = op.cast(text32, dtype);
  const ctx: TransformerContext = {
    selfAttention: softmaxAttention(),
    layerByName: new Map(layers.map((l) => [l.name, l])),
    latent: { height: o.height, width: o.width },
    groups: ucfg.normGroups,
    linearProjection: ucfg.useLinearProjection,
    upcast: ucfg.upcastAttention,
  };
  const timeAct = g.scope('time_embedding', () => op.silu(conditioningEmbedding(w, ucfg, timestep, textTime)));
  const rgb = cfg.bgr ? op.concat(op.split(image, 1, [1, 1, 1]).reverse(), 1) : image;
  const hint = g.scope('controlnet_cond_embedding', () => conditioningImage(w.sub('controlnet_cond_embedding'), cfg, op.cast(rgb, dtype)));
  const conv = nn.conv2d(w.sub('conv_in'), op.cast(sample, dtype), { padding: (ucfg.convInKernel - 1) / 2 });
  const { x, skips } = unetEncoder(w, ucfg, ctx, { x: op.add(conv, hint), timeAct, text });

  const scaleOf = (i: number) => op.reshape(op.slice(scales, [1], [i], [i + 1]), [o.batch, 1, 1, 1]);
  skips.forEach((s, i) => {
    const r = nn.conv2d(w.sub(`controlnet_down_blocks.${i}`), s);
    g.output(op.mul(op.cast(r, 'float32'), scaleOf(i)), downResidualName(i));
  });
  const mid = nn.conv2d(w.sub('controlnet_mid_block'), x);
  g.output(op.mul(op.cast(mid, 'float32'), scaleOf(count - 1)), MID_RESIDUAL);
  return g;
}
