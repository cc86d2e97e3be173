// Standard multi-head softmax self-attention, as diffusers' attn1.
import { linear } from '../onnx/nn.ts';
import { attend } from './mha.ts';
import { singlePhase, type AttentionPlugin } from './plugin.ts';
import { rows, type SelfAttentionCall, type SelfAttentionResult, type SelfAttentionVariant } from './self-attention.ts';

export function softmaxResult(c: SelfAttentionCall): SelfAttentionResult {
  const w = c.weights;
  const channels = c.layer.channels;
  const q = linear(w.sub('to_q'), c.hidden, channels);
  const k = linear(w.sub('to_k'), c.hidden, channels);
  const v = linear(w.sub('to_v'), c.hidden, channels);
  return {
    heads: attend(q, k, v, c.layer.heads, { fp32: c.upcast }),
    value: (start, count) => rows(v, start, count),
    project: (o) => linear(w.sub('to_out.0'), o, channels),
  };
}

export const softmaxAttention = (): SelfAttentionVariant => ({ kind: 'softmax', apply: softmaxResult });

export const softmaxPlugin: AttentionPlugin<{ kind: 'softmax' }> = {
  id: 'softmax',
  families: 'all',
  layers: 'every self-attention layer, as trained',
  start: () => singlePhase('softmax', softmaxAttention),
};
