// The embedded emoji models as a HeadModel: 64×64 previews from EmojiPipeline (emoji-dit, emoji-lit;
// emoji-dico has no attention heads), the perturbed branch only when some head is perturbed.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HeadPick } from '../attention/head-perturbation.ts';
import type { SelfAttentionLayer } from '../attention/self-attention.ts';
import type { EmojiPipeline } from '../recipes/emoji/pipeline.ts';
import { fingerprintOf, type ArchitectureFingerprint } from './architecture.ts';
import type { RgbImage } from './image.ts';
import type { HeadModel, RenderOptions } from './model.ts';

export interface EmojiPreviewSettings {
  prompt: string;
  negative?: string;
  /** Absent: the model's own defaults (config.json `sampler`). */
  steps?: number;
  cfg?: number;
  shift?: number;
}

export class EmojiHeadModel implements HeadModel {
  readonly architecture: ArchitectureFingerprint;

  constructor(
    readonly pipe: EmojiPipeline,
    readonly settings: EmojiPreviewSettings,
  ) {
    if (pipe.layers.length === 0) throw new RangeError(`${pipe.name} has no attention heads to search: use emoji-dit or emoji-lit`);
    this.architecture = fingerprintOf(pipe.config.architecture, pipe.layers);
  }

  get layers(): readonly SelfAttentionLayer[] {
    return this.pipe.layers;
  }

  /** The one size this model draws (its autoencoder's image_size). */
  get size(): number {
    const vae = JSON.parse(readFileSync(join(this.pipe.folders.vaeDir, 'config.json'), 'utf8')) as { image_size?: unknown };
    if (typeof vae.image_size !== 'number') throw new Error(`${this.pipe.folders.vaeDir}/config.json has no image_size`);
    return vae.image_size;
  }

  get key(): string {
    const { prompt, negative = '', steps, cfg, shift } = { ...this.pipe.defaults, ...this.settings };
    return JSON.stringify({ model: this.pipe.folders.dir, architecture: this.architecture.hash, prompt, negative, steps, cfg, shift });
  }

  async render(heads: readonly HeadPick[], o: RenderOptions): Promise<RgbImage> {
    const perturbed = heads.some((h) => h.u > 0) && o.scale > 0;
    const r = await this.pipe.generate({
      ...this.settings,
      prompt: o.prompt ?? this.settings.prompt,
      seed: o.seed,
      ...(perturbed ? { heads: { scale: o.scale, picks: heads } } : {}),
    });
    if (r.width !== o.size || r.height !== o.size) throw new RangeError(`${this.pipe.name} draws ${r.width}×${r.height} images; previews of ${o.size}² are not possible (use size ${r.width})`);
    return { width: r.width, height: r.height, data: r.images };
  }
}
