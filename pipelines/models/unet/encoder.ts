// The UNet's encoder half: down blocks and mid block. The UNet and the ControlNet (a trainable copy of
// this half, ../controlnet/) both build it here, so their weights and graphs line up block for block.
import type { T } from '../../onnx/graph.ts';
import type { Weights } from '../../onnx/weights.ts';
import type { UNetConfig } from './config.ts';
import { downsample, resnetBlock } from './resnet.ts';
import { transformer2d, type TransformerContext } from './transformer.ts';

export interface EncoderInputs {
  /** After conv_in (the ControlNet adds its conditioning embedding first). */
  x: T;
  /** The conditioning embedding every resnet receives, after its SiLU. */
  timeAct: T;
  /** Text in the compute dtype. */
  text: T;
}

export interface EncoderOutput {
  /** The mid block's output (the last down block's when the UNet has no mid block). */
  x: T;
  /** Every skip connection in order: conv_in's output, then one per resnet and downsampler. */
  skips: T[];
}

export function unetEncoder(w: Weights, cfg: UNetConfig, ctx: TransformerContext, inputs: EncoderInputs): EncoderOutput {
  const skips: T[] = [inputs.x];
  let x = inputs.x;
  for (let i = 0; i < cfg.blockOutChannels.length; i++) {
    const level = downLevel(w, cfg, ctx, i, { ...inputs, x });
    skips.push(...level);
    x = level.at(-1)!;
  }
  return { x: cfg.hasMidBlock ? midBlock(w, cfg, ctx, { ...inputs, x }) : x, skips };
}

const resnetOptions = (cfg: UNetConfig, ctx: TransformerContext) => ({ groups: cfg.normGroups, eps: cfg.normEps, fusedNorm: ctx.kernels?.groupNormSilu ?? false });

/** Which layers of a block a graph builds (a split UNet's layer sessions); the downsampler or upsampler comes with the last. */
export interface LayerRange {
  from: number;
  to: number;
}

/**
 * Down block `i` on `inputs.x` (its layers `layers.from` to `layers.to - 1`, default all): its skip connections, one per
 * resnet and the downsampler's; the last is the block's output.
 */
export function downLevel(w: Weights, cfg: UNetConfig, ctx: TransformerContext, i: number, inputs: EncoderInputs, layers?: LayerRange): T[] {
  const { timeAct, text } = inputs;
  const type = cfg.downBlockTypes[i];
  const resnetOpts = resnetOptions(cfg, ctx);
  const { from, to } = layers ?? { from: 0, to: cfg.layersPerBlock[i] };
  let x = inputs.x;
  const skips: T[] = [];
  inputs.x.graph.scope(`down_blocks.${i}`, () => {
    const bw = w.sub(`down_blocks.${i}`);
    for (let j = from; j < to; j++) {
      x = resnetBlock(bw.sub(`resnets.${j}`), x, timeAct, cfg.blockOutChannels[i], resnetOpts);
      if (type === 'CrossAttnDownBlock2D') x = transformer2d(bw.sub(`attentions.${j}`), `down_blocks.${i}.attentions.${j}`, x, text, cfg.downDepth[i][j], ctx);
      skips.push(x);
    }
    if (i < cfg.blockOutChannels.length - 1 && to === cfg.layersPerBlock[i]) {
      x = downsample(bw.sub('downsamplers.0'), x, cfg.downsamplePadding);
      skips.push(x);
    }
  });
  return skips;
}

/** The mid block on the last down block's output. */
export function midBlock(w: Weights, cfg: UNetConfig, ctx: TransformerContext, inputs: EncoderInputs): T {
  const { timeAct, text } = inputs;
  const n = cfg.blockOutChannels.length;
  let x = inputs.x;
  inputs.x.graph.scope('mid_block', () => {
    const mw = w.sub('mid_block');
    const midOpts = { ...resnetOptions(cfg, ctx), outputScale: cfg.midBlockScaleFactor };
    x = resnetBlock(mw.sub('resnets.0'), x, timeAct, cfg.blockOutChannels[n - 1], midOpts);
    x = transformer2d(mw.sub('attentions.0'), 'mid_block.attentions.0', x, text, cfg.midDepth, ctx);
    x = resnetBlock(mw.sub('resnets.1'), x, timeAct, cfg.blockOutChannels[n - 1], midOpts);
  });
  return x;
}

/** The skip connections' shapes [channels, height, width] for a latent size: the ControlNet residuals' shapes. */
export function skipShapes(cfg: UNetConfig, height: number, width: number): { down: [number, number, number][]; mid: [number, number, number] } {
  const n = cfg.blockOutChannels.length;
  const down: [number, number, number][] = [[cfg.blockOutChannels[0], height, width]];
  let [h, w] = [height, width];
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < cfg.layersPerBlock[i]; j++) down.push([cfg.blockOutChannels[i], h, w]);
    if (i < n - 1) {
      // A stride-2 3×3 conv with padding 1 (or bottom/right padding 1): ceil(size / 2).
      [h, w] = [Math.ceil(h / 2), Math.ceil(w / 2)];
      down.push([cfg.blockOutChannels[i], h, w]);
    }
  }
  return { down, mid: [cfg.blockOutChannels[n - 1], h, w] };
}
