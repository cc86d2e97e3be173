// The models shipped inside the studio (assets/models: emoji-lit, emoji-dit, emoji-dico), as the model
// picker offers them: what each supports and the settings it draws with (its config.json), so the
// form can switch to them. Reads configs only; no weights, no ORT in the UI's process.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_EMOJI_MODEL, EMOJI_MODEL_NAMES, resolveEmojiModel } from '../../pipelines/recipes/emoji/models.ts';
import type { EmbeddedModel } from './api.ts';

/** The model used when none is chosen (the engine's default). */
export const DEFAULT_MODEL_NAME = DEFAULT_EMOJI_MODEL;

/** Story mode needs softmax attention between image tokens (see pipelines/recipes/story/emoji-story.ts). */
const STORY_ARCHITECTURES = new Set(['emoji-dit']);

let cached: EmbeddedModel[] | undefined;

function imageSize(vaeDir: string): number {
  const vae = JSON.parse(readFileSync(join(vaeDir, 'config.json'), 'utf8')) as { image_size?: unknown };
  if (typeof vae.image_size !== 'number') throw new Error(`${vaeDir}/config.json has no image_size`);
  return vae.image_size;
}

/** The embedded models that are installed (a broken install lists none rather than failing the picker). */
export function embeddedModels(): EmbeddedModel[] {
  cached ??= EMOJI_MODEL_NAMES.flatMap((name): EmbeddedModel[] => {
    try {
      const { config, vaeDir } = resolveEmojiModel(name);
      const side = imageSize(vaeDir);
      const { steps, cfg } = config.sampler;
      return [{
        name,
        architecture: config.architecture,
        heads: config.architecture !== 'emoji-dico',
        story: STORY_ARCHITECTURES.has(config.architecture),
        defaults: { width: side, height: side, steps, cfg, sampler: 'flow_euler' },
      }];
    } catch {
      return [];
    }
  });
  return cached;
}
