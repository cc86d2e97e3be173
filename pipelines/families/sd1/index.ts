// Stable Diffusion 1.x: CLIP ViT-L text encoder, 512² native; AgentSD and LinFusion apply.
import { stableDiffusionFamily } from '../stable-diffusion.ts';

export const sd1 = stableDiffusionFamily({ id: 'sd1', label: 'Stable Diffusion 1.x', nativeSize: 512, attention: ['softmax', 'agent', 'linfusion'] });
