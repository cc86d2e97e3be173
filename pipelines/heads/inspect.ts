// Which heads a model has, without loading its weights: asked of the model's family (pipelines/
// families). What `studio heads list` prints and `--heads` is checked against.
import type { SelfAttentionLayer } from '../attention/self-attention.ts';
import { resolveModel } from '../families/registry.ts';
import { fingerprintOf, type ArchitectureFingerprint } from './architecture.ts';

export interface ModelHeads {
  /** The embedded model's name, or the model's resolved path. */
  model: string;
  /** The model family's label, for messages. */
  label: string;
  /** Empty for a family without self-attention heads (emoji-dico, DiT/DiCo checkpoints). */
  layers: SelfAttentionLayer[];
  architecture: ArchitectureFingerprint;
  /** The one preview side the model draws, when it has one (the emoji models: 64). */
  fixedSize?: number;
}

export function inspectHeads(model: string | undefined, o: { modelsDir?: string } = {}): ModelHeads {
  const { family, probe } = resolveModel(model, o.modelsDir, 'the head tools');
  const found = family.heads?.inspect(probe.target, o.modelsDir) ?? { layers: [], architecture: fingerprintOf(family.id, []) };
  return { model: probe.target, label: family.label, ...found, ...(family.fixedSize ? { fixedSize: family.fixedSize } : {}) };
}
