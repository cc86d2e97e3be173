// DiT (Peebles & Xie): the class-conditional diffusion transformer, from the public .pt releases.
import { classConditionalFamily } from '../class-conditional.ts';

export const dit = classConditionalFamily({ id: 'dit', label: 'DiT (class-conditional)' });
