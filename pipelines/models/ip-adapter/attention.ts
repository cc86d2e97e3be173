// IP-Adapter's decoupled cross-attention (diffusers' IPAdapterAttnProcessor): beside the text attention,
// each attn2 attends with the same query to the image tokens through its own to_k_ip / to_v_ip, and
// adds that, times the adapter's scale, before to_out.
import type { DType, T } from '../../onnx/graph.ts';
import * as nn from '../../onnx/nn.ts';
import * as op from '../../onnx/ops.ts';
import { Weights, type TensorSource } from '../../onnx/weights.ts';
import { attend } from '../../attention/mha.ts';
import type { UNetConfig } from '../unet/config.ts';
import { crossAttentionWidths } from './layers.ts';

/** The image part of one attn2: `name` is its module name, `q` its query, `heads` its head count. */
export type ImagePromptAttention = (name: string, q: T, heads: number, upcast: boolean) => T;

export const IP_TOKENS = 'ip_tokens';
export const IP_SCALE = 'ip_scale';

/** `layers`: the adapter's `<n>.to_k_ip/to_v_ip` weights; `tokens` [B, N, text width]; `scale` [1]. */
export function imagePromptAttention(layers: TensorSource, cfg: UNetConfig, tokens: T, scale: T, dtype: DType): ImagePromptAttention {
  const w = new Weights(tokens.graph, layers, dtype);
  const ids = new Map(crossAttentionWidths(cfg).map((l) => [l.name, l.id]));
  const image = op.cast(tokens, dtype);
  const factor = op.cast(scale, dtype);
  return (name, q, heads, upcast) => {
    const id = ids.get(name);
    if (id === undefined) throw new Error(`internal: ${name} is not a cross-attention layer of this UNet`);
    const channels = q.dim(-1);
    const k = nn.linear(w.sub(`${id}.to_k_ip`), image, channels, false);
    const v = nn.linear(w.sub(`${id}.to_v_ip`), image, channels, false);
    return op.mul(attend(q, k, v, heads, { fp32: upcast }), factor);
  };
}
