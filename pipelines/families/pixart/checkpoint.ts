// How PixArt-α / Σ models are recognised: diffusers PixArt* pipeline folders, and transformer files in
// PixArt's own layout (`blocks.N.cross_attn.*`, `t_block.*`; LiT's add `blocks.N.attn.dwc`), which PixArt
// and LiT publish as .pth files.
import type { CheckpointSignature } from '../../checkpoints/signature.ts';

export const pixartCheckpoint: CheckpointSignature = {
  id: 'pixart',
  recogniseFile: (keys) => {
    if (!keys.includes('blocks.0.cross_attn.q_linear.weight') || !keys.includes('t_block.1.weight')) return undefined;
    const lit = keys.includes('blocks.0.attn.dwc.weight');
    return `a ${lit ? 'LiT (linear-attention PixArt)' : 'PixArt'} transformer in PixArt's own layout (T5, VAE and scheduler come from the diffusers folder beside it)`;
  },
  recogniseFolder: (cls) => (cls.startsWith('PixArt') ? `a PixArt diffusers folder (${cls})` : undefined),
  readsTorchPt: true,
};
