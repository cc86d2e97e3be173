// Where each text encoder's CLIP tokenizer files are: the model folder's `tokenizer/` (`tokenizer_2/`),
// then `<models dir>/tokenizers/clip/`. No vocabulary ships with the studio (third-party data).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readConfiguredPad, type ClipPad } from '../text/clip-tokenizer.ts';

export const TOKENIZER_FILES = ['vocab.json', 'merges.txt'] as const;
export const SHARED_TOKENIZER_DIR = join('tokenizers', 'clip');

export class MissingTokenizerError extends Error {
  constructor(
    readonly model: string,
    readonly missing: string[],
    readonly searched: string[],
    message: string,
  ) {
    super(message);
    this.name = 'MissingTokenizerError';
  }
}

const complete = (dir: string) => TOKENIZER_FILES.every((f) => existsSync(join(dir, f)));

export interface TokenizerLookup {
  /** The model folder (diffusers layout), when there is one. */
  modelDir?: string;
  modelsDir?: string;
  /** What to name in errors: the model path and family. */
  model: string;
  familyName: string;
}

/** Folder holding the tokenizer of text encoder `index` (0-based), or a MissingTokenizerError saying what to put where. */
export function findTokenizerDir(index: number, o: TokenizerLookup): string {
  const sub = index === 0 ? 'tokenizer' : `tokenizer_${index + 1}`;
  const candidates = [o.modelDir && join(o.modelDir, sub), o.modelsDir && join(o.modelsDir, SHARED_TOKENIZER_DIR)].filter((d): d is string => !!d);
  const found = candidates.find(complete);
  if (found) return found;
  const missing = candidates.length ? TOKENIZER_FILES.filter((f) => !existsSync(join(candidates[0], f))).map((f) => join(candidates[0], f)) : [...TOKENIZER_FILES];
  const places = [
    o.modelDir ? `${join(o.modelDir, sub)}/` : undefined,
    o.modelsDir ? `${join(o.modelsDir, SHARED_TOKENIZER_DIR)}/` : `<models dir>/${SHARED_TOKENIZER_DIR}/ (no models dir is set)`,
  ].filter(Boolean);
  const which = index === 0 ? 'its text encoder' : `its text encoder ${index + 1} (${sub})`;
  throw new MissingTokenizerError(
    o.model,
    missing,
    candidates,
    `${o.familyName} model ${o.model} has no tokenizer for ${which}: missing ${missing.join(', ')}. ` +
      `Put CLIP's vocab.json and merges.txt in ${places.join(' or in ')} (the same two files serve every SD text encoder).`,
  );
}

/**
 * Padding of text encoder `index`: the model's own `tokenizer[_N]/tokenizer_config.json` when it has one
 * (also when the vocabulary comes from the shared folder), else the family's (`!` for OpenCLIP encoders).
 */
export function tokenizerPad(index: number, modelDir: string | undefined, familyDefault: ClipPad): ClipPad {
  const config = modelDir && join(modelDir, index === 0 ? 'tokenizer' : `tokenizer_${index + 1}`, 'tokenizer_config.json');
  return config && existsSync(config) ? readConfiguredPad(config) : familyDefault;
}
