// Stable Diffusion XL: two text encoders with pooled text and size conditioning, 1024² native.
import { stableDiffusionFamily } from '../stable-diffusion.ts';

export const sdxl = stableDiffusionFamily({ id: 'sdxl', label: 'Stable Diffusion XL', nativeSize: 1024, taesd: 'taesdxl', dualBranchHires: true });
