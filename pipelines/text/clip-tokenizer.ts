import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Padding token: `<|endoftext|>` (SD 1.x, SDXL's first encoder) or `!` (OpenCLIP encoders: SD 2.x, SDXL's second). */
export type ClipPad = 'eos' | '!';

const BOS = '<|startoftext|>';
const EOS = '<|endoftext|>';
const END_OF_WORD = '</w>';
const REQUIRED_FILES = ['vocab.json', 'merges.txt'];

// Special tokens are matched on the raw text, before lower-casing, as HF does for added tokens. HF also makes
// the pad token special, so with `!` padding every literal `!` becomes its own token (`!!` → `!`,`!`, not `!!</w>`).
const SPECIAL_TOKENS = /(<\|startoftext\|>|<\|endoftext\|>)/;
const SPECIAL_TOKENS_PAD_BANG = /(<\|startoftext\|>|<\|endoftext\|>|!)/;
const CLIP_PIECES = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\p{White_Space}\p{L}\p{N}]+/gu;
// HF's byte-level step re-splits every piece with GPT-2's pattern (written here for whitespace-free pieces).
// It only changes pieces that spell a special token after lower-casing, e.g. from `<|EndOfText|>`.
const BYTE_LEVEL_PIECES = /'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}+|[^\p{L}\p{N}]+/gu;
const CACHE_LIMIT = 20_000;

/** GPT-2's reversible map from bytes to printable characters, so BPE never sees whitespace or control bytes. */
const BYTE_CHARS: string[] = (() => {
  let unprintable = 0;
  return Array.from({ length: 256 }, (_, b) => {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    return String.fromCodePoint(printable ? b : 256 + unprintable++);
  });
})();
const utf8 = new TextEncoder();

/** HF's normalizer: NFC, whitespace runs to one space, then lower-case code point by code point (no final-sigma rule). */
function normalize(text: string): string {
  let out = '';
  for (const ch of text.normalize('NFC').replace(/\p{White_Space}+/gu, ' ')) out += ch.toLowerCase();
  return out;
}

/** CLIP's byte-level BPE tokenizer, giving the same ids as HF CLIPTokenizer (as diffusers calls it). */
export class ClipTokenizer {
  readonly bosId: number;
  readonly eosId: number;
  private readonly cache = new Map<string, number[]>();

  private constructor(
    private readonly vocab: Map<string, number>,
    private readonly mergeRanks: Map<string, number>,
    /** Padding used by `encodePadded` when none is asked for (from `tokenizer_config.json` when present). */
    readonly defaultPad: ClipPad,
    source: string,
  ) {
    this.bosId = this.tokenId(BOS, source);
    this.eosId = this.tokenId(EOS, source);
  }

  /** Loads `vocab.json` + `merges.txt` (and reads the pad token of an optional `tokenizer_config.json`) from `dir`. */
  /** `pad` overrides the folder's own (a shared tokenizer folder serves encoders that pad differently). */
  static fromFolder(dir: string, options: { pad?: ClipPad } = {}): ClipTokenizer {
    const missing = REQUIRED_FILES.filter((f) => !existsSync(join(dir, f)));
    if (missing.length > 0) {
      throw new Error(
        `CLIP tokenizer files missing in ${dir}: ${missing.join(', ')}. Put the CLIP vocab.json and merges.txt ` +
          `in the model's tokenizer/ folder or in <models dir>/tokenizers/clip/ (the vocabulary is not shipped with the app).`,
      );
    }
    const vocab = parseVocab(readJson(join(dir, 'vocab.json')), join(dir, 'vocab.json'));
    const merges = parseMerges(readFileSync(join(dir, 'merges.txt'), 'utf8'));
    return new ClipTokenizer(vocab, merges, options.pad ?? readConfiguredPad(join(dir, 'tokenizer_config.json')), dir);
  }

  /** Id of a vocabulary entry such as `,</w>` or `!`; throws when the vocabulary lacks it. */
  tokenId(token: string, source = 'the CLIP vocabulary'): number {
    const id = this.vocab.get(token);
    if (id === undefined) throw new Error(`vocab.json of ${source} has no token ${JSON.stringify(token)}: is it a CLIP vocabulary?`);
    return id;
  }

  /** Token ids of `text`, without BOS/EOS and without truncation; `pad` matters as HF treats a `!` pad token as special. */
  encode(text: string, options: { pad?: ClipPad } = {}): number[] {
    const ids: number[] = [];
    const splitter = (options.pad ?? this.defaultPad) === '!' ? SPECIAL_TOKENS_PAD_BANG : SPECIAL_TOKENS;
    const parts = text.split(splitter); // odd indices hold the special tokens themselves
    for (let i = 0; i < parts.length; i++) {
      if (i % 2 === 1) {
        ids.push(this.tokenId(parts[i]));
        continue;
      }
      for (const [piece] of normalize(parts[i]).matchAll(CLIP_PIECES)) {
        for (const [sub] of piece.matchAll(BYTE_LEVEL_PIECES)) ids.push(...this.bpe(sub));
      }
    }
    return ids;
  }

  /** BOS + ids + EOS, truncated to `maxLength` (EOS kept) and padded to it with EOS or `!`. */
  encodePadded(text: string, options: { maxLength?: number; pad?: ClipPad } = {}): number[] {
    const maxLength = options.maxLength ?? 77;
    if (!Number.isInteger(maxLength) || maxLength < 2) throw new Error(`maxLength must be an integer >= 2, got ${maxLength}`);
    const pad = options.pad ?? this.defaultPad;
    const ids = [this.bosId, ...this.encode(text, { pad }).slice(0, maxLength - 2), this.eosId];
    const padId = this.padId(pad);
    while (ids.length < maxLength) ids.push(padId);
    return ids;
  }

  padId(pad: ClipPad = this.defaultPad): number {
    return pad === '!' ? this.tokenId('!') : this.eosId;
  }

  private bpe(piece: string): number[] {
    const cached = this.cache.get(piece);
    if (cached) return cached;
    let symbols = Array.from(utf8.encode(piece), (b) => BYTE_CHARS[b]);
    symbols[symbols.length - 1] += END_OF_WORD;
    for (;;) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < symbols.length; i++) {
        const rank = this.mergeRanks.get(`${symbols[i]} ${symbols[i + 1]}`);
        if (rank !== undefined && rank < bestRank) [best, bestRank] = [i, rank];
      }
      if (best < 0) break;
      const [left, right] = [symbols[best], symbols[best + 1]];
      const merged: string[] = [];
      for (let i = 0; i < symbols.length; i++) {
        const isPair = symbols[i] === left && symbols[i + 1] === right && i + 1 < symbols.length;
        merged.push(isPair ? left + right : symbols[i]);
        if (isPair) i++;
      }
      symbols = merged;
    }
    const ids = symbols.map((s) => this.vocab.get(s) ?? this.eosId); // EOS is CLIP's unknown token
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(piece, ids);
    return ids;
  }
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file} is not valid JSON (${(e as Error).message}); replace it with the tokenizer's original file`);
  }
}

function parseVocab(parsed: unknown, file: string): Map<string, number> {
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new Error(`${file} must be a JSON object mapping tokens to ids`);
  }
  const vocab = new Map<string, number>();
  for (const [token, id] of Object.entries(parsed)) {
    if (!Number.isInteger(id)) throw new Error(`${file}: id of token ${JSON.stringify(token)} is not an integer`);
    vocab.set(token, id as number);
  }
  return vocab;
}

function parseMerges(text: string): Map<string, number> {
  const ranks = new Map<string, number>();
  let rank = 0;
  for (const line of text.split('\n')) {
    const merge = line.trim();
    if (merge.startsWith('#version') || merge === '') continue;
    ranks.set(merge, rank++);
  }
  return ranks;
}

/** The pad token a `tokenizer_config.json` names (`eos` when it names none or the file is missing). */
export function readConfiguredPad(configFile: string): ClipPad {
  if (!existsSync(configFile)) return 'eos';
  const config = readJson(configFile);
  let pad = typeof config === 'object' && config !== null ? (config as { pad_token?: unknown }).pad_token : undefined;
  if (typeof pad === 'object' && pad !== null) pad = (pad as { content?: unknown }).content; // older AddedToken form
  return pad === '!' ? '!' : 'eos';
}
