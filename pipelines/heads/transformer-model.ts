// A prompt-to-image transformer pipeline (SD3, FLUX) as a HeadModel: previews through its own generate.
import type { HeadPick } from '../attention/head-perturbation.ts';
import type { SelfAttentionLayer } from '../attention/self-attention.ts';
import { fingerprintOf, type ArchitectureFingerprint } from './architecture.ts';
import type { RgbImage } from './image.ts';
import { previewRequest, type HeadModel, type PromptPreviewSettings, type RenderOptions } from './model.ts';

/** What a pipeline offers to be previewed: its layers, its path, and generate over a preview request (the perturbed branch only when some head is perturbed). */
export interface PromptTransformerPipeline {
  readonly layers: readonly SelfAttentionLayer[];
  readonly sources: { path: string };
  generate(o: ReturnType<typeof previewRequest>): Promise<{ width: number; height: number; images: Float32Array }>;
}

export class TransformerHeadModel implements HeadModel {
  readonly architecture: ArchitectureFingerprint;

  constructor(family: string, readonly pipe: PromptTransformerPipeline, readonly settings: PromptPreviewSettings) {
    this.architecture = fingerprintOf(family, pipe.layers);
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
