// Where the emoji models live and how a denoiser graph is built for one of them. A model folder names
// its text encoder and VAE (config.json `text_encoder`, `vae`): sibling folders under the same parent.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Graph } from '../../onnx/graph.ts';
import type { TensorSource } from '../../onnx/weights.ts';
import type { SelfAttentionLayer } from '../../attention/self-attention.ts';
import { readEmojiConfig, type EmojiDicoConfig, type EmojiTransformerConfig } from '../../models/emoji/config.ts';
import { buildEmojiDiT, emojiDitLayers } from '../../models/emoji/dit.ts';
import { buildEmojiDiCo } from '../../models/emoji/dico.ts';
import { BadRequestError } from '../../jobs/api.ts';
import { EMBEDDED_MODEL_NAMES } from '../../jobs/api-models.ts';

export const EMOJI_MODEL_NAMES = EMBEDDED_MODEL_NAMES;
export type EmojiModelName = (typeof EMOJI_MODEL_NAMES)[number];
export type EmojiDenoiserConfig = EmojiTransformerConfig | EmojiDicoConfig;

/** assets/models of this checkout, found from this file's location (works from any working directory). */
export const DEFAULT_ASSETS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../assets/models');

/** The model used when none is chosen: the best of the three on quality (assets/models/README.md). */
export const DEFAULT_EMOJI_MODEL: EmojiModelName = 'emoji-lit';

export const isEmojiModelName = (s: string): s is EmojiModelName => (EMOJI_MODEL_NAMES as readonly string[]).includes(s);

export interface EmojiModelFolders {
  /** The denoiser's folder. */
  dir: string;
  config: EmojiDenoiserConfig;
  textDir: string;
  vaeDir: string;
  /** The 2× upsampler for 128² images: the sibling folder `emoji-upsampler`. */
  upsamplerDir: string;
}

/** A name (`emoji-dit|emoji-lit|emoji-dico`, looked up in `assetsDir`) or a denoiser folder. */
export function resolveEmojiModel(nameOrDir: string, assetsDir = DEFAULT_ASSETS_DIR): EmojiModelFolders {
  const dir = isEmojiModelName(nameOrDir) ? join(assetsDir, nameOrDir) : resolve(nameOrDir);
  if (!existsSync(join(dir, 'config.json'))) {
    const hint = isEmojiModelName(nameOrDir)
      ? `the embedded models are missing from ${assetsDir} (a broken install?)`
      : `give ${EMOJI_MODEL_NAMES.join(', ')} or a folder with config.json and model.safetensors`;
    throw new BadRequestError(`emoji model "${nameOrDir}": ${join(dir, 'config.json')} not found; ${hint}`);
  }
  const config = readEmojiConfig(dir, ['emoji-dit', 'emoji-lit', 'emoji-dico']);
  const parent = dirname(dir);
  return { dir, config, textDir: resolve(parent, config.text_encoder), vaeDir: resolve(parent, config.vae), upsamplerDir: join(parent, 'emoji-upsampler') };
}

/** The self-attention layers whose heads SoftPAG/PAG may perturb; none for the convolutional DiCo. */
export function emojiAttentionLayers(config: EmojiDenoiserConfig): SelfAttentionLayer[] {
  return config.architecture === 'emoji-dico' ? [] : emojiDitLayers(config);
}

/**
 * The denoiser for `batch` rows, the last `perturbedRows` of them with the `head_weights` input
 * applied. Inputs x, t, text_tokens, text_mask, text_pooled → out, for every architecture.
 */
export function buildEmojiDenoiser(source: TensorSource, config: EmojiDenoiserConfig, batch: number, perturbedRows: number): Graph {
  if (config.architecture === 'emoji-dico') {
    if (perturbedRows > 0) throw new BadRequestError('emoji-dico has no attention heads to perturb: head guidance needs emoji-dit or emoji-lit');
    return buildEmojiDiCo(source, config, { batch });
  }
  return buildEmojiDiT(source, config, { batch, perturbedRows: perturbedRows || undefined });
}
