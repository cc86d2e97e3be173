// The UNet of a story scene: IR-Diffusion's self-attention (isolation everywhere, reposition in the
// mutual layers) and masked mutual cross-attention, on a batch of reference rows plus the scene rows
// (attention/reposition.ts describes the layout and the mask inputs).
import type { TensorSource } from '../../onnx/weights.ts';
import type { T } from '../../onnx/graph.ts';
import * as nn from '../../onnx/nn.ts';
import { batchRows, storyCrossAttention, StoryAttentionInputs, storyLayerSelfAttention, type StoryGraphOptions } from '../../attention/reposition.ts';
import { rows, type SelfAttentionCall, type SelfAttentionResult, type SelfAttentionVariant } from '../../attention/self-attention.ts';
import type { UNetConfig } from '../../models/unet/config.ts';
import type { CrossAttentionCall } from '../../models/unet/transformer.ts';
import { buildUNet, type UNetGraph } from '../../models/unet/unet.ts';

export interface StoryUNetOptions extends StoryGraphOptions {
  /** Latent size. */
  height: number;
  width: number;
  textLength: number;
  dtype?: 'float32' | 'float16';
}

export interface StoryUNet extends UNetGraph {
  inputs: StoryAttentionInputs;
}

export function buildStoryUNet(source: TensorSource, cfg: UNetConfig, o: StoryUNetOptions): StoryUNet {
  const inputs = new StoryAttentionInputs(o.batch);
  const selfAttention: SelfAttentionVariant = { kind: 'ir-diffusion', apply: (c) => irSelfAttention(c, inputs, o) };
  const crossAttention = o.mutualCrossAttention === false ? undefined : (c: CrossAttentionCall) => irCrossAttention(c, inputs, o.crossAttentionLambda);
  const unet = buildUNet(source, cfg, { batch: batchRows(o.batch), height: o.height, width: o.width, textLength: o.textLength, dtype: o.dtype, selfAttention, crossAttention });
  return { ...unet, inputs };
}

function irSelfAttention(c: SelfAttentionCall, inputs: StoryAttentionInputs, o: StoryUNetOptions): SelfAttentionResult {
  const project = (name: string) => (x: T) => nn.linear(c.weights.sub(name), x, c.layer.channels);
  const [q, k, v] = [project('to_q')(c.hidden), project('to_k')(c.hidden), project('to_v')(c.hidden)];
  const heads = storyLayerSelfAttention(o, inputs, { index: c.layer.index, grid: c.grid }, {
    hidden: c.hidden, q, k, v, toK: project('to_k'), toV: project('to_v'), heads: c.layer.heads, fp32: c.upcast,
  });
  return { heads, value: (start, count) => rows(v, start, count), project: project('to_out.0') };
}

function irCrossAttention(c: CrossAttentionCall, inputs: StoryAttentionInputs, lambda?: number): T {
  const project = (name: string) => (x: T) => nn.linear(c.weights.sub(name), x, c.hidden.dim(-1));
  return storyCrossAttention({
    batch: inputs.batch, inputs: inputs.at(c.hidden.graph, c.grid, false), hidden: c.hidden, text: c.text, plain: c.plain(),
    toQ: project('to_q'), toK: project('to_k'), toV: project('to_v'), toOut: project('to_out.0'), heads: c.layer.heads, fp32: c.upcast, lambda,
  });
}
