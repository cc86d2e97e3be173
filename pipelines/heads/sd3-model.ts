// SD3 / SD3.5 as a HeadModel: the joint attention layers (block i's attn, then attn2 on dual blocks)
// and previews through Sd3Pipeline, the perturbed branch only when some head is perturbed.
import { statSync } from 'node:fs';
import type { HeadPick } from '../attention/head-perturbation.ts';
import type { SelfAttentionLayer } from '../attention/self-attention.ts';
import { mmditAttentionLayers } from '../models/mmdit/model.ts';
import type { Sd3Pipeline } from '../recipes/sd3/pipeline.ts';
import { loadSd3Folder, type Sd3Sources } from '../recipes/sd3/sources.ts';
import { loadSd3SingleFile } from '../recipes/sd3/single-file.ts';
import { fingerprintOf, type ArchitectureFingerprint } from './architecture.ts';
import type { RgbImage } from './image.ts';
import { previewRequest, type HeadModel, type RenderOptions } from './model.ts';

export function loadSd3Sources(path: string, modelsDir?: string): Sd3Sources {
  return statSync(path).isDirectory() ? loadSd3Folder(path, { modelsDir }) : loadSd3SingleFile(path, { modelsDir });
}

/** The attention layers of an SD3 folder or file, from its config or tensor shapes (no weights loaded). */
export function inspectSd3Heads(path: string, modelsDir?: string): { layers: SelfAttentionLayer[]; architecture: ArchitectureFingerprint } {
  const layers = mmditAttentionLayers(loadSd3Sources(path, modelsDir).transformerConfig);
  return { layers, architecture: fingerprintOf('sd3', layers) };
}

export interface Sd3PreviewSettings {
  prompt: string;
  negative?: string;
  steps: number;
  cfg: number;
}

export class Sd3HeadModel implements HeadModel {
  readonly architecture: ArchitectureFingerprint;

  constructor(readonly pipe: Sd3Pipeline, readonly settings: Sd3PreviewSettings) {
    this.architecture = fingerprintOf('sd3', pipe.layers);
  }

  get layers(): readonly SelfAttentionLayer[] {
    return this.pipe.layers;
  }

  get key(): string {
    const { prompt, negative = '', steps, cfg } = this.settings;
    return JSON.stringify({ model: this.pipe.sources.path, architecture: this.architecture.hash, prompt, negative, steps, cfg, sampler: 'flow_euler' });
  }

  async render(heads: readonly HeadPick[], o: RenderOptions): Promise<RgbImage> {
    const r = await this.pipe.generate(previewRequest(this.settings, heads, o));
    return { width: r.width, height: r.height, data: r.images };
  }
}
