// The emoji-DiT of a story scene, as ir-unet.ts for the UNet: IR-Diffusion's self-attention (isolation
// in every block, reposition in the mutual blocks) and masked mutual cross-attention, on a batch of
// reference rows plus the scene rows (attention/reposition.ts describes the layout and the mask
// inputs). The emoji-DiT's text has padding, so the mutual cross-attention keeps each reference's
// text key mask.
import type { Graph, T } from '../../onnx/graph.ts';
import { linear } from '../../onnx/nn.ts';
import * as op from '../../onnx/ops.ts';
import type { TensorSource } from '../../onnx/weights.ts';
import { batchRows, StoryAttentionInputs, storyCrossAttention, storyLayerSelfAttention, type StoryGraphOptions } from '../../attention/reposition.ts';
import { rows, type SelfAttentionResult } from '../../attention/self-attention.ts';
import type { EmojiDitConfig } from '../../models/emoji/config.ts';
import type { EmojiCrossAttentionCall, EmojiSelfAttentionCall } from '../../models/emoji/dit-block.ts';
import { buildEmojiDiT } from '../../models/emoji/dit.ts';

export interface StoryEmojiDiTOptions extends StoryGraphOptions {
  dtype?: 'float32' | 'float16';
}

export interface StoryEmojiDiT {
  graph: Graph;
  inputs: StoryAttentionInputs;
}

export function buildStoryEmojiDiT(source: TensorSource, cfg: EmojiDitConfig, o: StoryEmojiDiTOptions): StoryEmojiDiT {
  const inputs = new StoryAttentionInputs(o.batch);
  const graph = buildEmojiDiT(source, cfg, {
    batch: batchRows(o.batch),
    dtype: o.dtype,
    selfAttention: (c) => irSelfAttention(c, inputs, o),
    crossAttention: o.mutualCrossAttention === false ? undefined : (c) => irCrossAttention(c, inputs, o.crossAttentionLambda),
  });
  return { graph, inputs };
}

function irSelfAttention(c: EmojiSelfAttentionCall, inputs: StoryAttentionInputs, o: StoryEmojiDiTOptions): SelfAttentionResult {
  const channels = c.hidden.dim(-1);
  const qkv = (x: T) => op.split(linear(c.weights.sub('qkv'), x, 3 * channels), -1, [channels, channels, channels]);
  const [q, k, v] = qkv(c.hidden);
  const heads = storyLayerSelfAttention(o, inputs, { index: c.layer.index, grid: c.grid }, {
    hidden: c.hidden, q, k, v, toK: (x) => qkv(x)[1], toV: (x) => qkv(x)[2], heads: c.layer.heads, fp32: false,
  });
  return { heads, value: (start, count) => rows(v, start, count), project: (x) => linear(c.weights.sub('proj'), x, channels) };
}

function irCrossAttention(c: EmojiCrossAttentionCall, inputs: StoryAttentionInputs, lambda?: number): T {
  const channels = c.hidden.dim(-1);
  const kv = (x: T) => op.split(linear(c.weights.sub('kv_linear'), x, 2 * channels), -1, [channels, channels]);
  return storyCrossAttention({
    batch: inputs.batch, inputs: inputs.at(c.hidden.graph, c.grid, false), hidden: c.hidden, text: c.text, textBias: c.textBias, plain: c.plain(),
    toQ: (x) => linear(c.weights.sub('q_linear'), x, channels), toK: (x) => kv(x)[0], toV: (x) => kv(x)[1],
    toOut: (x) => linear(c.weights.sub('proj'), x, channels), heads: c.heads, fp32: false, lambda,
  });
}
