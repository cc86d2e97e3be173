// PAG's perturbed self-attention: the attention map replaced by the identity, so the layer outputs
// to_out(to_v(x)) and Q, K are never computed (diffusers' PAGIdentitySelfAttnProcessor2_0).
import { linear } from '../onnx/nn.ts';
import { rows, type SelfAttentionCall, type SelfAttentionResult, type SelfAttentionVariant } from './self-attention.ts';

export function identityResult(c: SelfAttentionCall): SelfAttentionResult {
  const channels = c.layer.channels;
  const v = linear(c.weights.sub('to_v'), c.hidden, channels);
  return {
    heads: v,
    value: (start, count) => rows(v, start, count),
    project: (o) => linear(c.weights.sub('to_out.0'), o, channels),
  };
}

export const identityAttention = (): SelfAttentionVariant => ({ kind: 'identity', apply: identityResult });

/** `base` everywhere except the listed layer indices, which become identity attention. */
export function identityOn(base: SelfAttentionVariant, layers: readonly number[]): SelfAttentionVariant {
  const set = new Set(layers);
  return {
    kind: `${base.kind}+identity`,
    prepare: (all) => base.prepare?.(all),
    apply: (c) => (set.has(c.layer.index) ? identityResult(c) : base.apply(c)),
  };
}
