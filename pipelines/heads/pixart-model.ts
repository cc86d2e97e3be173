// PixArt-α / Σ (and LiT on it) for head tools: each block's self-attention with its own head count, and
// previews through PixArtPipeline (diffusers' PixArtSigmaPAGPipeline batch order) by TransformerHeadModel.
import { join } from 'node:path';
import type { SelfAttentionLayer } from '../attention/self-attention.ts';
import { readJsonObject } from '../checkpoints/json-fields.ts';
import { pixartConfigFromDiffusers } from '../models/pixart/config.ts';
import { pixartAttentionLayers } from '../models/pixart/self-attention.ts';
import type { PixArtPipeline } from '../recipes/pixart/pipeline.ts';
import { pixartSources } from '../recipes/pixart/sources.ts';
import { fingerprintOf, type ArchitectureFingerprint } from './architecture.ts';
import type { PromptTransformerPipeline } from './transformer-model.ts';

/** The self-attention layers of a PixArt folder or PixArt / LiT file, from its config and tensor shapes (no weights read). */
export function inspectPixArtHeads(target: string): { layers: SelfAttentionLayer[]; architecture: ArchitectureFingerprint } {
  const sources = pixartSources(target);
  const configFile = join(sources.dir, 'transformer', 'config.json');
  const layers = pixartAttentionLayers(pixartConfigFromDiffusers(readJsonObject(configFile), configFile), sources.transformer);
  return { layers, architecture: fingerprintOf('pixart', layers) };
}

/** A PixArt pipeline as TransformerHeadModel previews it (its model named by folder and transformer). */
export function pixartPreviewPipeline(pipe: PixArtPipeline): PromptTransformerPipeline {
  return {
    layers: pipe.layers,
    sources: { path: `${pipe.dir} (${pipe.description})` },
    generate: async (request) => ({ width: request.width, height: request.height, images: (await pipe.generate(request)).image }),
  };
}
