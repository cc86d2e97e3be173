// How DiCo checkpoints are recognised (.pt releases or .safetensors conversions).
import type { CheckpointSignature } from '../../checkpoints/signature.ts';
import { has } from '../stable-diffusion-checkpoint.ts';

export const dicoCheckpoint: CheckpointSignature = {
  id: 'dico',
  recogniseFile: (keys) =>
    has(keys, 'encoder_level_1.') && has(keys, 'decoder_level_1.') && has(keys, 't_embedder_1.') ? 'a DiCo (class-conditional ConvNet diffusion model)' : undefined,
  readsTorchPt: true,
};
