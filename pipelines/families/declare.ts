// Shorthands a family declares itself with: which checkpoints are its own, and the methods it runs.
import { variantsFor } from '../attention/registry.ts';
import type { FamilyMethods, ModelProbe } from './types.ts';

/** The score of a family read from checkpoint files: certain when pipelines/checkpoints detected it, else 0. */
export const detectedAs =
  (id: string) =>
  (probe: ModelProbe): number =>
    probe.detection?.family === id ? 1 : 0;

/** Its attention variants (pipelines/attention/registry.ts) and the methods named here; it runs no other. */
export function supports(id: string, methods: Partial<Omit<FamilyMethods, 'attention'>>): FamilyMethods {
  const none = { pag: false, softpag: false, headhunter: false, story: false, img2img: false, inpaint: false, hiresFix: false, classLabels: false, clipSkip: false, vaeOverride: false };
  return { attention: variantsFor(id), ...none, ...methods };
}
