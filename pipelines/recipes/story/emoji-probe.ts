// The plain emoji-DiT with the story's cross-attention probe as an extra output (as probe.ts for the
// UNet): text attention probabilities averaged over heads and blocks, [B, 64, L]. The DiT has one token
// grid, so every block counts. The probe is computed beside the model's attention; `out` is the plain
// model's.
import type { Graph, T } from '../../onnx/graph.ts';
import { linear } from '../../onnx/nn.ts';
import * as op from '../../onnx/ops.ts';
import type { TensorSource } from '../../onnx/weights.ts';
import type { EmojiDitConfig } from '../../models/emoji/config.ts';
import type { EmojiCrossAttentionCall } from '../../models/emoji/dit-block.ts';
import { buildEmojiDiT } from '../../models/emoji/dit.ts';
import { PROBE_OUTPUT } from './probe.ts';

export function buildProbedEmojiDiT(source: TensorSource, cfg: EmojiDitConfig, batch: number): Graph {
  const maps: T[] = [];
  const graph = buildEmojiDiT(source, cfg, {
    batch,
    crossAttention: (c) => {
      maps.push(probabilities(c));
      return c.plain();
    },
  });
  graph.output(op.div(maps.reduce((a, b) => op.add(a, b)), maps.length), PROBE_OUTPUT);
  return graph;
}

/** softmax(Q·Kᵀ/√d + text key mask) of one block, averaged over the heads, in fp32: [B, S, L]. */
function probabilities(c: EmojiCrossAttentionCall): T {
  const channels = c.hidden.dim(-1);
  const heads = c.heads;
  const d = channels / heads;
  const f = (x: T) => op.cast(x, 'float32');
  const split = (x: T) => op.transpose(op.reshape(f(x), [x.dim(0), x.dim(1), heads, d]), [0, 2, 1, 3]);
  const q = split(linear(c.weights.sub('q_linear'), c.hidden, channels));
  const [k] = op.split(linear(c.weights.sub('kv_linear'), c.text, 2 * channels), -1, [channels, channels]);
  const scores = op.add(op.mul(op.matmul(q, op.transpose(split(k), [0, 1, 3, 2])), d ** -0.5), f(c.textBias));
  return op.reduceMean(op.softmax(scores, -1), [1], false);
}
