// How DiT checkpoints are recognised (the public .pt releases or .safetensors conversions).
import type { CheckpointSignature } from '../../checkpoints/signature.ts';
import { has } from '../stable-diffusion-checkpoint.ts';

export const ditCheckpoint: CheckpointSignature = {
  id: 'dit',
  recogniseFile: (keys) =>
    has(keys, 'x_embedder.') && has(keys, 't_embedder.') && has(keys, 'blocks.0.adaLN_modulation.') ? 'a DiT (class-conditional diffusion transformer)' : undefined,
  readsTorchPt: true,
};
