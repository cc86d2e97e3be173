// The UNet's self-attention layers in execution order (down blocks, mid block, up blocks): the stable
// index that head weights, head presets and `studio heads list` refer to, with diffusers' module names.
import type { SelfAttentionLayer } from '../../attention/self-attention.ts';
import { upIndex, type UNetConfig } from './config.ts';

export function selfAttentionLayers(cfg: UNetConfig): SelfAttentionLayer[] {
  const layers: SelfAttentionLayer[] = [];
  const n = cfg.blockOutChannels.length;
  const add = (prefix: string, depth: number, channels: number, heads: number, downsample: number) => {
    for (let k = 0; k < depth; k++) {
      layers.push({ index: layers.length, name: `${prefix}.transformer_blocks.${k}.attn1`, heads, channels, downsample });
    }
  };
  cfg.downBlockTypes.forEach((type, i) => {
    if (type !== 'CrossAttnDownBlock2D') return;
    for (let j = 0; j < cfg.layersPerBlock[i]; j++) add(`down_blocks.${i}.attentions.${j}`, cfg.downDepth[i][j], cfg.blockOutChannels[i], cfg.heads[i], 2 ** i);
  });
  if (cfg.hasMidBlock) add('mid_block.attentions.0', cfg.midDepth, cfg.blockOutChannels[n - 1], cfg.heads[n - 1], 2 ** (n - 1));
  cfg.upBlockTypes.forEach((type, i) => {
    if (type !== 'CrossAttnUpBlock2D') return;
    const r = upIndex(cfg, i);
    for (let j = 0; j < cfg.layersPerBlock[r] + 1; j++) add(`up_blocks.${i}.attentions.${j}`, cfg.upDepth[i][j], cfg.blockOutChannels[r], cfg.heads[r], 2 ** r);
  });
  return layers;
}

export class PagLayerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PagLayerError';
  }
}

/**
 * diffusers' `pag_applied_layers` semantics: each id is a regular expression searched in the module
 * names of the self-attention layers ("mid", "down_blocks.1", "up_blocks.0.attentions.1"), except that
 * an id ending in a number never matches a name ending in a number of the same value by accident.
 * Returns the matching layer indices in layer order.
 */
export function matchPagLayers(layers: readonly SelfAttentionLayer[], ids: readonly string[]): number[] {
  const hit = new Set<number>();
  for (const id of ids) {
    let re: RegExp;
    try {
      re = new RegExp(id);
    } catch (e) {
      throw new PagLayerError(`PAG layer "${id}" is not a valid pattern: ${(e as Error).message}`);
    }
    const lastOfId = id.split('.').pop() ?? '';
    const matched = layers.filter((l) => {
      const lastOfName = l.name.split('.').pop() ?? '';
      const fakeIntegral = /^\d+$/.test(lastOfId) && /^\d+$/.test(lastOfName) && lastOfId === lastOfName;
      return re.test(l.name) && !fakeIntegral;
    });
    if (matched.length === 0) {
      const blocks = [...new Set(layers.map((l) => l.name.split('.transformer_blocks')[0]))];
      throw new PagLayerError(`PAG layer "${id}" matches no self-attention layer of this UNet; try "mid" or one of: ${blocks.join(', ')}`);
    }
    for (const l of matched) hit.add(l.index);
  }
  return [...hit].sort((a, b) => a - b);
}
