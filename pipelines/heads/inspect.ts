// Which heads a model has, without loading its weights: the embedded emoji models (by name or
// folder) and SD 1.x / 2.x / XL checkpoints. What `studio heads list` prints and `--heads` is checked against.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SelfAttentionLayer } from '../attention/self-attention.ts';
import { resolveModelPath, type LoadOptions } from '../checkpoints/index.ts';
import { emojiAttentionLayers, isEmojiModelName, resolveEmojiModel } from '../recipes/emoji/models.ts';
import { fingerprintOf, type ArchitectureFingerprint } from './architecture.ts';
import { inspectSdHeads } from './sd-model.ts';

export interface ModelHeads {
  kind: 'emoji' | 'sd';
  /** The emoji model's name or folder, or the SD model's resolved path. */
  model: string;
  layers: SelfAttentionLayer[];
  architecture: ArchitectureFingerprint;
}

/** An emoji denoiser folder: config.json naming an emoji architecture, and no diffusers model_index.json. */
function isEmojiFolder(path: string): boolean {
  const config = join(path, 'config.json');
  if (!existsSync(config) || existsSync(join(path, 'model_index.json'))) return false;
  try {
    return /"architecture"\s*:\s*"emoji-/.test(readFileSync(config, 'utf8'));
  } catch {
    return false;
  }
}

export function isEmojiModel(model: string, modelsDir?: string): boolean {
  if (isEmojiModelName(model)) return true;
  try {
    return isEmojiFolder(resolveModelPath(model, modelsDir));
  } catch {
    return false;
  }
}

export function inspectHeads(model: string, o: LoadOptions = {}): ModelHeads {
  if (isEmojiModel(model, o.modelsDir)) {
    const name = isEmojiModelName(model) ? model : resolveModelPath(model, o.modelsDir);
    const { config } = resolveEmojiModel(name);
    const layers = emojiAttentionLayers(config);
    return { kind: 'emoji', model: name, layers, architecture: fingerprintOf(config.architecture, layers) };
  }
  const sd = inspectSdHeads(model, o);
  return { kind: 'sd', model: resolveModelPath(model, o.modelsDir), layers: sd.layers, architecture: sd.architecture };
}
