// PixArt-α / Σ (and LiT on it) for head tools: each block's self-attention with its own head count, and
// previews through PixArtPipeline (diffusers' PixArtSigmaPAGPipeline batch order), perturbed only when some
// head is.
import { join } from 'node:path';
import type { SelfAttentionLayer } from '../attention/self-attention.ts';
import { readJsonObject } from '../checkpoints/json-fields.ts';
import { pixartConfigFromDiffusers } from '../models/pixart/config.ts';
import { pixartAttentionLayers } from '../models/pixart/self-attention.ts';
import type { PixArtPipeline } from '../recipes/pixart/pipeline.ts';
import { pixartSources } from '../recipes/pixart/sources.ts';
import { fingerprintOf, type ArchitectureFingerprint } from './architecture.ts';
import { PromptHeadModel, type PreviewRequest, type PromptPreviewSettings } from './model.ts';

/** The self-attention layers of a PixArt folder or PixArt / LiT file, from its config and tensor shapes (no weights read). */
export function inspectPixArtHeads(target: string): { layers: SelfAttentionLayer[]; architecture: ArchitectureFingerprint } {
  const sources = pixartSources(target);
  const configFile = join(sources.dir, 'transformer', 'config.json');
  const layers = pixartAttentionLayers(pixartConfigFromDiffusers(readJsonObject(configFile), configFile), sources.transformer);
  return { layers, architecture: fingerprintOf('pixart', layers) };
}

/** PixArt's previews through PixArtPipeline (the perturbed branch only when some head is perturbed). */
export class PixArtHeadModel extends PromptHeadModel {
  constructor(readonly pipe: PixArtPipeline, settings: PromptPreviewSettings) {
    super('pixart', pipe.layers, settings, { model: `${pipe.dir} (${pipe.description})`, sampler: 'dpmpp_2m' });
  }

  protected async draw(request: PreviewRequest): Promise<Float32Array> {
    return (await this.pipe.generate(request)).image;
  }
}
