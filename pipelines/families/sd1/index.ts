// Stable Diffusion 1.x: CLIP ViT-L text encoder, 512² native. Its attention variants (AgentSD,
// LinFusion) are those whose plug-in lists sd1 (pipelines/attention/registry.ts).
import { stableDiffusionFamily } from '../stable-diffusion.ts';

export const sd1 = stableDiffusionFamily({ id: 'sd1', label: 'Stable Diffusion 1.x', nativeSize: 512, taesd: 'taesd' });
