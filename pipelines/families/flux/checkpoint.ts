// How FLUX.1 checkpoints are recognised: Black Forest Labs' single files (`double_blocks.*`,
// `single_blocks.*`; ComfyUI's under `model.diffusion_model.`), dev told from its guidance embedding,
// and diffusers Flux pipeline folders.
import type { CheckpointSignature } from '../../checkpoints/signature.ts';
import { fluxPrefix } from '../../recipes/flux/keymap.ts';
import { has } from '../stable-diffusion-checkpoint.ts';

export const fluxCheckpoint: CheckpointSignature = {
  id: 'flux',
  recogniseFile: (keys) => {
    const prefix = fluxPrefix(keys);
    if (prefix === undefined || !has(keys, `${prefix}single_blocks.`)) return undefined;
    const variant = has(keys, `${prefix}guidance_in.`) ? 'dev' : 'schnell';
    const encoders = [['clip_l', 'CLIP-L'], ['t5xxl', 'T5']].filter(([k]) => has(keys, `text_encoders.${k}.`)).map(([, n]) => n);
    return `a FLUX.1-${variant} checkpoint (transformer${has(keys, 'first_stage_model.') ? ', VAE' : ''}${encoders.length ? `, ${encoders.join(', ')}` : ', no text encoders'})`;
  },
  recogniseFolder: (cls) => (/^Flux(?!2)/.test(cls) ? `a FLUX.1 diffusers folder (${cls})` : undefined),
};
