// emoji-dico: the embedded ConvNet diffusion model (DiCo): no attention heads to perturb.
import { emojiFamily } from '../emoji.ts';

export const emojiDico = emojiFamily({ id: 'emoji-dico', label: 'emoji-DiCo (built in)', heads: false, story: false });
