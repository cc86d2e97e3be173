// emoji-dit: the embedded softmax DiT; the one emoji model story mode runs on (IR-Diffusion needs
// softmax attention between image tokens).
import { emojiFamily } from '../emoji.ts';

export const emojiDit = emojiFamily({ id: 'emoji-dit', label: 'emoji-DiT (built in)', heads: true, story: true });
