// The emoji text encoder's word tokenizer (training/emoji/text.py `words`, ARCHITECTURE.md):
// NFKD, drop U+0300–U+036F, lower case, split on runs outside [a-z0-9]; ids = [bos] + words + pad.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readEmojiConfig, type EmojiTextConfig } from './config.ts';

const COMBINING_MARKS = /[\u0300-\u036f]/g;
const WORD_BREAK = /[^a-z0-9]+/;

/** The words of a prompt exactly as the training code splits them. */
export function emojiWords(text: string): string[] {
  return text.normalize('NFKD').replace(COMBINING_MARKS, '').toLowerCase().split(WORD_BREAK).filter((w) => w.length > 0);
}

export interface EmojiEncoding {
  /** Length `maxLength`: bos, word ids (unknown → unk), pad. */
  ids: number[];
  /** Words of the prompt not in the vocabulary (each once, in order), whether or not they fit. */
  unknown: string[];
  /** Words cut off because the prompt has more than `maxLength - 1`. */
  truncated: string[];
  /** How many words the prompt has. */
  words: number;
}

export class EmojiTokenizer {
  private readonly index = new Map<string, number>();

  constructor(
    readonly vocab: readonly string[],
    readonly maxLength: number,
    readonly special: { pad: number; bos: number; unk: number },
    /** Emoji names the model draws (concepts.json), the fallback for a prompt with no known word. */
    readonly concepts: readonly string[] = [],
  ) {
    vocab.forEach((w, i) => {
      if (!this.index.has(w)) this.index.set(w, i);
    });
  }

  /** Reads `words.json` (the project's own word list, index = id), `concepts.json` and `config.json` of an emoji-text folder. */
  static fromFolder(dir: string): EmojiTokenizer {
    const cfg: EmojiTextConfig = readEmojiConfig(dir, ['emoji-text']);
    const file = join(dir, 'words.json');
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new Error(`${file}: cannot read the vocabulary (${(e as Error).message})`);
    }
    if (!Array.isArray(raw) || !raw.every((w) => typeof w === 'string')) {
      throw new Error(`${file}: must be a JSON list of words (the index of a word is its id)`);
    }
    if (raw.length !== cfg.vocab_size) {
      throw new Error(`${file}: has ${raw.length} words but config.json says vocab_size ${cfg.vocab_size}; the two files belong to different models`);
    }
    return new EmojiTokenizer(raw as string[], cfg.max_len, cfg.special_tokens, readConcepts(join(dir, 'concepts.json')));
  }

  idOf(word: string): number | undefined {
    return this.index.get(word);
  }

  encode(text: string): EmojiEncoding {
    const words = emojiWords(text);
    const kept = words.slice(0, this.maxLength - 1);
    const ids = [this.special.bos, ...kept.map((w) => this.index.get(w) ?? this.special.unk)];
    while (ids.length < this.maxLength) ids.push(this.special.pad);
    const unknown = [...new Set(words.filter((w) => !this.index.has(w)))];
    return { ids, unknown, truncated: words.slice(this.maxLength - 1), words: words.length };
  }

  /** Rows of ids as the int32 [B, maxLength] the text graph takes. */
  encodeBatch(texts: readonly string[]): { ids: Int32Array; encodings: EmojiEncoding[] } {
    const encodings = texts.map((t) => this.encode(t));
    const ids = new Int32Array(texts.length * this.maxLength);
    encodings.forEach((e, i) => ids.set(e.ids, i * this.maxLength));
    return { ids, encodings };
  }
}

function readConcepts(file: string): string[] {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: cannot read the emoji names the model falls back to (${(e as Error).message}); reinstall the built-in models`);
  }
  if (!Array.isArray(raw) || raw.length === 0 || !raw.every((w) => typeof w === 'string')) throw new Error(`${file}: must be a non-empty JSON list of emoji names`);
  return raw as string[];
}
