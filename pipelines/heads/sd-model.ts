// Stable Diffusion as a HeadModel: previews through SdPipeline, one image per call, the perturbed
// branch only when some head is perturbed (so the unperturbed preview is plain sampling).
import type { HeadPick } from '../attention/head-perturbation.ts';
import type { SelfAttentionLayer } from '../attention/self-attention.ts';
import { loadPipelineSources, type LoadOptions } from '../checkpoints/index.ts';
import { parseUNetConfig } from '../models/unet/config.ts';
import { selfAttentionLayers } from '../models/unet/layers.ts';
import type { SdPipeline } from '../recipes/sd/pipeline.ts';
import { fingerprintOf, type ArchitectureFingerprint } from './architecture.ts';
import type { RgbImage } from './image.ts';
import { previewRequest, type HeadModel, type RenderOptions } from './model.ts';

/** The self-attention layers of an SD model file or folder, read from its config (no weights loaded). */
export function inspectSdHeads(path: string, o: LoadOptions = {}): { layers: SelfAttentionLayer[]; architecture: ArchitectureFingerprint; family: string } {
  const sources = loadPipelineSources(path, o);
  const layers = selfAttentionLayers(parseUNetConfig(sources.unetConfig, `${sources.path} (unet config)`));
  return { layers, architecture: fingerprintOf(sources.family, layers), family: sources.family };
}

export interface SdPreviewSettings {
  prompt: string;
  negative?: string;
  steps: number;
  /** 1 or less: no CFG branch (HeadHunter searches with CFG off). */
  cfg: number;
  sampler: string;
}

export class SdHeadModel implements HeadModel {
  readonly architecture: ArchitectureFingerprint;

  constructor(
    readonly pipe: SdPipeline,
    readonly settings: SdPreviewSettings,
  ) {
    this.architecture = fingerprintOf(pipe.family, pipe.layers);
  }

  get layers(): readonly SelfAttentionLayer[] {
    return this.pipe.layers;
  }

  get key(): string {
    const { prompt, negative = '', steps, cfg, sampler } = this.settings;
    return JSON.stringify({ model: this.pipe.sources.path, architecture: this.architecture.hash, prompt, negative, steps, cfg, sampler });
  }

  async render(heads: readonly HeadPick[], o: RenderOptions): Promise<RgbImage> {
    const r = await this.pipe.generate({ ...previewRequest(this.settings, heads, o), sampler: this.settings.sampler });
    return { width: r.width, height: r.height, data: r.images };
  }
}
