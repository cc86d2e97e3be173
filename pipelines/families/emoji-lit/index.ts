// emoji-lit: the embedded default — a linear-attention DiT (LiT) trained by this project on emoji.
import { emojiFamily } from '../emoji.ts';

export const emojiLit = emojiFamily({ id: 'emoji-lit', label: 'emoji-LiT (built in)', heads: true, story: false });
