// What head search and effect maps need from a model, whatever it is (an SD UNet, the embedded
// emoji-DiT): its self-attention layers and a way to render a small preview with some heads perturbed.
import type { HeadPick } from '../attention/head-perturbation.ts';
import type { SelfAttentionLayer } from '../attention/self-attention.ts';
import type { ArchitectureFingerprint } from './architecture.ts';
import type { RgbImage } from './image.ts';

export interface HeadKey {
  layer: number;
  head: number;
}

export interface RenderOptions {
  /** Perturbation guidance scale; ignored when no head is perturbed. */
  scale: number;
  seed: number;
  /** Preview side in pixels (square). */
  size: number;
  /** Overrides the model's own prompt (HeadHunter averages over prompt–seed pairs). */
  prompt?: string;
}

export interface HeadModel {
  readonly layers: readonly SelfAttentionLayer[];
  readonly architecture: ArchitectureFingerprint;
  /**
   * Everything besides heads, scale, seed, size and prompt that changes the images (model file,
   * steps, CFG, sampler, negative prompt…): part of the search cache's key.
   */
  readonly key: string;
  /** One image; with `heads` empty, the unperturbed image. */
  render(heads: readonly HeadPick[], o: RenderOptions): Promise<RgbImage>;
}

/** A prompt model's preview settings (SD, SD3). */
export interface PromptPreviewSettings {
  prompt: string;
  negative?: string;
  steps: number;
  cfg: number;
}

/** The generate request of a prompt model's preview: its settings, the render's seed and size, the picked heads. */
export function previewRequest(settings: PromptPreviewSettings, heads: readonly HeadPick[], o: RenderOptions) {
  const perturbed = heads.some((h) => h.u > 0) && o.scale > 0;
  return {
    prompt: o.prompt ?? settings.prompt,
    negative: settings.negative ?? '',
    steps: settings.steps,
    cfg: settings.cfg,
    seed: o.seed,
    width: o.size,
    height: o.size,
    ...(perturbed ? { heads: { scale: o.scale, picks: heads } } : {}),
  };
}
