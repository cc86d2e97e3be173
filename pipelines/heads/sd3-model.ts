// SD3 / SD3.5's head layers: block i's joint attn, then attn2 on dual blocks (previews: ./transformer-model.ts).
import { statSync } from 'node:fs';
import type { SelfAttentionLayer } from '../attention/self-attention.ts';
import { mmditAttentionLayers } from '../models/mmdit/model.ts';
import { loadSd3Folder, type Sd3Sources } from '../recipes/sd3/sources.ts';
import { loadSd3SingleFile } from '../recipes/sd3/single-file.ts';
import { fingerprintOf, type ArchitectureFingerprint } from './architecture.ts';

export function loadSd3Sources(path: string, modelsDir?: string): Sd3Sources {
  return statSync(path).isDirectory() ? loadSd3Folder(path, { modelsDir }) : loadSd3SingleFile(path, { modelsDir });
}

/** The attention layers of an SD3 folder or file, from its config or tensor shapes (no weights loaded). */
export function inspectSd3Heads(path: string, modelsDir?: string): { layers: SelfAttentionLayer[]; architecture: ArchitectureFingerprint } {
  const layers = mmditAttentionLayers(loadSd3Sources(path, modelsDir).transformerConfig);
  return { layers, architecture: fingerprintOf('sd3', layers) };
}
