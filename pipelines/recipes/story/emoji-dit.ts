// The emoji-DiT of a story scene: IR-Diffusion's self-attention (isolation in every block, reposition
// in the mutual blocks) and masked mutual cross-attention, on a batch of reference rows plus the scene
// rows (attention/reposition.ts describes the layout and the mask inputs). The emoji-DiT's text has
// padding, so the mutual cross-attention keeps each reference's text key mask; the rest is the
// model-agnostic code the SD UNet uses.
import type { Graph, T } from '../../onnx/graph.ts';
import { linear } from '../../onnx/nn.ts';
import * as op from '../../onnx/ops.ts';
import type { TensorSource } from '../../onnx/weights.ts';
import { biasedAttend } from '../../attention/isolation.ts';
import { batchRows, IR_DEFAULTS, StoryAttentionInputs, storySelfAttention, type StoryBatch } from '../../attention/reposition.ts';
import { rows, type SelfAttentionResult } from '../../attention/self-attention.ts';
import type { EmojiDitConfig } from '../../models/emoji/config.ts';
import type { EmojiCrossAttentionCall, EmojiSelfAttentionCall } from '../../models/emoji/dit-block.ts';
import { buildEmojiDiT } from '../../models/emoji/dit.ts';

export interface StoryEmojiDiTOptions {
  batch: StoryBatch;
  /** Blocks whose self-attention reads the references. */
  mutualLayers: ReadonlySet<number>;
  /** Isolation Attention (default on). */
  isolation?: boolean;
  /** Masked mutual cross-attention (default on), and its λ. */
  mutualCrossAttention?: boolean;
  crossAttentionLambda?: number;
  refLogitBias?: number;
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
    crossAttention: o.mutualCrossAttention === false ? undefined : (c) => irCrossAttention(c, inputs, o.crossAttentionLambda ?? IR_DEFAULTS.crossAttentionLambda),
  });
  return { graph, inputs };
}

function irSelfAttention(c: EmojiSelfAttentionCall, inputs: StoryAttentionInputs, o: StoryEmojiDiTOptions): SelfAttentionResult {
  const channels = c.hidden.dim(-1);
  const qkv = (x: T) => op.split(linear(c.weights.sub('qkv'), x, 3 * channels), -1, [channels, channels, channels]);
  const [q, k, v] = qkv(c.hidden);
  const mutual = o.mutualLayers.has(c.layer.index);
  const heads =
    o.isolation === false && !mutual
      ? biasedAttend(q, k, v, c.layer.heads)
      : storySelfAttention({
          batch: o.batch, inputs: inputs.at(c.hidden.graph, c.grid, mutual), hidden: c.hidden, q, k, v,
          toK: (x) => qkv(x)[1], toV: (x) => qkv(x)[2], heads: c.layer.heads, mutual, fp32: false,
          refLogitBias: o.refLogitBias, isolation: o.isolation !== false,
        });
  return { heads, value: (start, count) => rows(v, start, count), project: (x) => linear(c.weights.sub('proj'), x, channels) };
}

/**
 * Scene rows: (1 − λ)·own + λ·(target-weighted mean over subjects of the scene query attending to
 * reference i's text) inside the union of the target masks, own output elsewhere; reference rows as
 * the model. The official blend, term by term and in fp32.
 */
function irCrossAttention(c: EmojiCrossAttentionCall, inputs: StoryAttentionInputs, lambda: number): T {
  const { groups, subjects } = inputs.batch;
  const refs = groups * subjects;
  const plain = c.plain();
  if (subjects === 0) return plain;
  const targets = inputs.at(c.hidden.graph, c.grid, false).targets;
  const [s, channels] = [c.hidden.dim(1), c.hidden.dim(2)];
  const q = linear(c.weights.sub('q_linear'), rows(c.hidden, refs, groups), channels);
  const perSubject = op.reshape(op.expand(op.unsqueeze(q, [1]), [groups, subjects, s, channels]), [refs, s, channels]);
  const [k, v] = op.split(linear(c.weights.sub('kv_linear'), rows(c.text, 0, refs), 2 * channels), -1, [channels, channels]);
  const mutual = linear(c.weights.sub('proj'), biasedAttend(perSubject, k, v, c.heads, { bias: rows(c.textBias, 0, refs) }), channels);

  const f = (x: T) => op.cast(x, 'float32');
  const own = f(rows(plain, refs, groups));
  const weights = op.reshape(targets, [1, subjects, s, 1]);
  const area = op.reshape(op.reduceSum(targets, [0]), [1, s, 1]);
  const mean = op.div(op.reduceSum(op.mul(f(op.reshape(mutual, [groups, subjects, s, channels])), weights), [1], false), op.add(area, 1e-8));
  const outside = op.cast(op.equal(area, 0), 'float32');
  const inside = op.sub(1, outside);
  const blended = op.add(op.add(op.mul(own, outside), op.mul(op.mul(own, inside), 1 - lambda)), op.mul(op.mul(mean, inside), lambda));
  return op.concat([rows(plain, 0, refs), op.cast(blended, plain.dtype)], 0);
}
