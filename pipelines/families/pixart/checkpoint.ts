// How PixArt-α / Σ models are recognised: diffusers PixArt* pipeline folders.
import type { CheckpointSignature } from '../../checkpoints/signature.ts';

export const pixartCheckpoint: CheckpointSignature = {
  id: 'pixart',
  recogniseFile: () => undefined,
  recogniseFolder: (cls) => (cls.startsWith('PixArt') ? `a PixArt diffusers folder (${cls})` : undefined),
};
