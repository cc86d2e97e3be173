// The UNet's cross-attention layers in the order IP-Adapter files number them: diffusers' attn_processors
// order (down blocks, up blocks, then the mid block, as the modules were registered), the k-th attn2 being
// `ip_adapter.<2k + 1>` (the original repository numbered every processor, attn1 included).
import type { UNetConfig } from '../unet/config.ts';
import { selfAttentionLayers } from '../unet/layers.ts';

export interface CrossAttentionWidth {
  /** diffusers module name of the attn2, e.g. `down_blocks.0.attentions.0.transformer_blocks.0.attn2`. */
  name: string;
  /** The file's key number n of `<n>.to_k_ip.weight`. */
  id: number;
  channels: number;
}

const ORDER = ['down_blocks', 'up_blocks', 'mid_block'];

export function crossAttentionWidths(cfg: UNetConfig): CrossAttentionWidth[] {
  const layers = selfAttentionLayers(cfg);
  const rank = (name: string) => ORDER.findIndex((p) => name.startsWith(p));
  return [...layers]
    .sort((a, b) => rank(a.name) - rank(b.name) || a.index - b.index)
    .map((l, k) => ({ name: l.name.replace(/attn1$/, 'attn2'), id: 2 * k + 1, channels: l.channels }));
}
