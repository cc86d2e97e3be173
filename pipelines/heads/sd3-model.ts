// SD3 / SD3.5 as a HeadModel: the joint attention layers (block i's attn, then attn2 on dual blocks)
// and previews through Sd3Pipeline, the perturbed branch only when some head is perturbed.
import { statSync } from 'node:fs';
import type { SelfAttentionLayer } from '../attention/self-attention.ts';
import { mmditAttentionLayers } from '../models/mmdit/model.ts';
import type { Sd3Pipeline } from '../recipes/sd3/pipeline.ts';
import { loadSd3Folder, type Sd3Sources } from '../recipes/sd3/sources.ts';
import { loadSd3SingleFile } from '../recipes/sd3/single-file.ts';
import { fingerprintOf, type ArchitectureFingerprint } from './architecture.ts';
import { PromptHeadModel, type PreviewRequest, type PromptPreviewSettings } from './model.ts';

export function loadSd3Sources(path: string, modelsDir?: string): Sd3Sources {
  return statSync(path).isDirectory() ? loadSd3Folder(path, { modelsDir }) : loadSd3SingleFile(path, { modelsDir });
}

/** The attention layers of an SD3 folder or file, from its config or tensor shapes (no weights loaded). */
export function inspectSd3Heads(path: string, modelsDir?: string): { layers: SelfAttentionLayer[]; architecture: ArchitectureFingerprint } {
  const layers = mmditAttentionLayers(loadSd3Sources(path, modelsDir).transformerConfig);
  return { layers, architecture: fingerprintOf('sd3', layers) };
}

/** SD3's previews through Sd3Pipeline (the perturbed branch only when some head is perturbed). */
export class Sd3HeadModel extends PromptHeadModel {
  constructor(readonly pipe: Sd3Pipeline, settings: PromptPreviewSettings) {
    super('sd3', pipe.layers, settings, { model: pipe.sources.path, sampler: 'flow_euler' });
  }

  protected async draw(request: PreviewRequest): Promise<Float32Array> {
    return (await this.pipe.generate(request)).images;
  }
}
