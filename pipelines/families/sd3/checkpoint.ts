// How SD3 / SD3.5 checkpoints are recognised: Stability's single files (`model.diffusion_model.joint_blocks.*`,
// with or without bundled VAE and text encoders) and diffusers StableDiffusion3* pipeline folders.
import type { CheckpointSignature } from '../../checkpoints/signature.ts';
import { has } from '../stable-diffusion-checkpoint.ts';

export const sd3Checkpoint: CheckpointSignature = {
  id: 'sd3',
  recogniseFile: (keys) => {
    if (!has(keys, 'model.diffusion_model.joint_blocks.')) return undefined;
    const encoders = [['clip_l', 'CLIP-L'], ['clip_g', 'CLIP-G'], ['t5xxl', 'T5']].filter(([k]) => has(keys, `text_encoders.${k}.`)).map(([, n]) => n);
    return `an SD3 checkpoint (MMDiT${has(keys, 'first_stage_model.') ? ', VAE' : ''}${encoders.length ? `, ${encoders.join(', ')}` : ', no text encoders'})`;
  },
  recogniseFolder: (cls) => (cls.startsWith('StableDiffusion3') ? `an SD3 diffusers folder (${cls})` : undefined),
};
