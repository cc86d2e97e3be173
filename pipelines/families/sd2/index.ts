// Stable Diffusion 2.x: OpenCLIP-H text encoder, 768² native (v-prediction from its scheduler config).
import { stableDiffusionFamily } from '../stable-diffusion.ts';

export const sd2 = stableDiffusionFamily({ id: 'sd2', label: 'Stable Diffusion 2.x', nativeSize: 768, taesd: 'taesd' });
