// PixArt-α / Σ (and LiT on it) as a HeadModel: each block's self-attention, with its own head count, and
// previews through PixArtPipeline (diffusers' PixArtSigmaPAGPipeline batch order), perturbed only when some
// head is.
import { join } from 'node:path';
import type { HeadPick } from '../attention/head-perturbation.ts';
import type { SelfAttentionLayer } from '../attention/self-attention.ts';
import { readJsonObject } from '../checkpoints/json-fields.ts';
import { pixartConfigFromDiffusers } from '../models/pixart/config.ts';
import { pixartAttentionLayers } from '../models/pixart/self-attention.ts';
import type { PixArtPipeline } from '../recipes/pixart/pipeline.ts';
import { pixartSources } from '../recipes/pixart/sources.ts';
import { fingerprintOf, type ArchitectureFingerprint } from './architecture.ts';
import type { RgbImage } from './image.ts';
import { previewRequest, type HeadModel, type PromptPreviewSettings, type RenderOptions } from './model.ts';

/** The self-attention layers of a PixArt folder or PixArt / LiT file, from its config and tensor shapes (no weights read). */
export function inspectPixArtHeads(target: string): { layers: SelfAttentionLayer[]; architecture: ArchitectureFingerprint } {
  const sources = pixartSources(target);
  const configFile = join(sources.dir, 'transformer', 'config.json');
  const layers = pixartAttentionLayers(pixartConfigFromDiffusers(readJsonObject(configFile), configFile), sources.transformer);
  return { layers, architecture: fingerprintOf('pixart', layers) };
}

export class PixArtHeadModel implements HeadModel {
  readonly architecture: ArchitectureFingerprint;

  constructor(readonly pipe: PixArtPipeline, readonly settings: PromptPreviewSettings) {
    this.architecture = fingerprintOf('pixart', pipe.layers);
  }

  get layers(): readonly SelfAttentionLayer[] {
    return this.pipe.layers;
  }

  get key(): string {
    const { prompt, negative = '', steps, cfg } = this.settings;
    return JSON.stringify({ model: this.pipe.dir, transformer: this.pipe.description, architecture: this.architecture.hash, prompt, negative, steps, cfg, sampler: 'dpmpp_2m' });
  }

  async render(heads: readonly HeadPick[], o: RenderOptions): Promise<RgbImage> {
    const req = previewRequest(this.settings, heads, o);
    return { width: req.width, height: req.height, data: (await this.pipe.generate(req)).image };
  }
}
