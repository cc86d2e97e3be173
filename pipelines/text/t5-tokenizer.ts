// T5's SentencePiece unigram tokenizer, read from the user's `tokenizer.json` (the file SD3's
// `tokenizer_3/`, PixArt's `tokenizer/` and google/t5-v1_1 ship). The segmentation itself is
// @huggingface/tokenizers (it reproduces the reference tokenizer's ids exactly: test/t5.test.ts);
// this module checks that the file is a unigram tokenizer and does T5's truncation and padding.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';

export class T5TokenizerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'T5TokenizerError';
  }
}

const WHAT_TO_GIVE = "Give the tokenizer.json of a T5 model (SD3's tokenizer_3/ folder, PixArt's tokenizer/ folder or google/t5-v1_1-xxl's)";

interface TokenizerJson {
  model?: { type?: string; vocab?: unknown };
  added_tokens?: { id: number; content: string }[];
}

export class T5Tokenizer {
  private constructor(
    private readonly tokenizer: Tokenizer,
    readonly padId: number,
    readonly eosId: number,
    readonly vocabSize: number,
  ) {}

  /** A `tokenizer.json`, or a folder holding one (with its optional `tokenizer_config.json`). */
  static load(path: string): T5Tokenizer {
    const file = existsSync(path) && statSync(path).isDirectory() ? join(path, 'tokenizer.json') : path;
    if (!existsSync(file)) {
      const spiece = existsSync(path) && statSync(path).isDirectory() && existsSync(join(path, 'spiece.model'));
      throw new T5TokenizerError(
        spiece
          ? `${path} holds spiece.model but no tokenizer.json: reading SentencePiece's protobuf model is not supported yet. ${WHAT_TO_GIVE}.`
          : `${file}: no such file. ${WHAT_TO_GIVE}.`,
      );
    }
    let json: TokenizerJson;
    try {
      json = JSON.parse(readFileSync(file, 'utf8')) as TokenizerJson;
    } catch (e) {
      throw new T5TokenizerError(`${file} is not valid JSON (${(e as Error).message}). ${WHAT_TO_GIVE}.`);
    }
    const kind = json.model?.type;
    if (kind !== 'Unigram' || !Array.isArray(json.model?.vocab)) {
      throw new T5TokenizerError(
        `${file} is not a SentencePiece unigram tokenizer (its model is ${kind ? `"${kind}"` : 'missing'}; T5 needs "Unigram"). ` +
          `A CLIP tokenizer (BPE) belongs to the CLIP text encoders. ${WHAT_TO_GIVE}.`,
      );
    }
    const configFile = join(file, '..', 'tokenizer_config.json');
    const config = existsSync(configFile) ? (JSON.parse(readFileSync(configFile, 'utf8')) as Record<string, unknown>) : {};
    const vocab = json.model.vocab as [string, number][];
    const idOf = (token: string) => {
      const added = json.added_tokens?.find((t) => t.content === token);
      const id = added ? added.id : vocab.findIndex(([piece]) => piece === token);
      if (id < 0) throw new T5TokenizerError(`${file}: the vocabulary has no "${token}" token, which T5 needs. ${WHAT_TO_GIVE}.`);
      return id;
    };
    return new T5Tokenizer(new Tokenizer(json as object, config), idOf('<pad>'), idOf('</s>'), vocab.length);
  }

  /** Token ids with the closing `</s>`, untruncated. */
  encode(text: string): number[] {
    return this.tokenizer.encode(text).ids;
  }

  /**
   * Exactly `length` ids, as transformers pads and truncates for T5 (`padding="max_length",
   * truncation=True`): at most length−1 text tokens, then `</s>`, then `<pad>`; the mask marks real tokens.
   */
  encodePadded(text: string, length: number): { ids: number[]; mask: number[] } {
    if (!Number.isInteger(length) || length < 1) throw new RangeError(`T5 sequence length must be a positive integer (got ${length})`);
    const all = this.encode(text);
    const ids = all.length > length ? [...all.slice(0, length - 1), this.eosId] : all;
    const mask = ids.map(() => 1);
    while (ids.length < length) {
      ids.push(this.padId);
      mask.push(0);
    }
    return { ids, mask };
  }
}
