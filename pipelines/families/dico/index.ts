// DiCo: the class-conditional ConvNet diffusion model.
import { classConditionalFamily } from '../class-conditional.ts';

export const dico = classConditionalFamily({ id: 'dico', label: 'DiCo (class-conditional)' });
