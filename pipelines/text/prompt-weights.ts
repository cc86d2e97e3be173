import type { ClipPad, ClipTokenizer } from './clip-tokenizer.ts';
import { MAX_PROMPT_CHARS } from '../jobs/api-limits.ts';

/** A run of prompt text and its attention weight, as A1111's `parse_prompt_attention` returns them. */
export type WeightedText = [text: string, weight: number];

/** Weight that marks a `BREAK` entry (A1111 only honours it while no bracket has multiplied it). */
export const BREAK_WEIGHT = -1;

const ROUND_MULTIPLIER = 1.1;
const SQUARE_MULTIPLIER = 1 / 1.1;

// A1111's token pattern, alternatives in the same order: escapes, a lone backslash (dropped), openers,
// `:weight)`, closers, plain text, a lone colon. `\d` is Python's, i.e. any Unicode decimal digit.
const ATTENTION_TOKENS = /\\\(|\\\)|\\\[|\\\]|\\\\|\\|\(|\[|:([+-]?[.\p{Nd}]+)\)|\)|\]|[^\\()[\]:]+|:/gu;

export { MAX_PROMPT_CHARS };
/**
 * Brackets open at once. Each closing bracket reweights the text inside it, so the cost grows with
 * the nesting depth; 32 levels of `(` already weigh 1.1^32 ≈ 21.
 */
export const MAX_BRACKET_DEPTH = 32;
/** Weights are clamped to ±MAX_WEIGHT; smaller magnitudes than MIN_WEIGHT become 0 (no denormals). */
export const MAX_WEIGHT = 100;
export const MIN_WEIGHT = 1e-6;

/** A prompt the parser refuses; the message says what to change. */
export class PromptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PromptError';
  }
}

/**
 * A1111's prompt-attention parser: `(text)` ×1.1, `[text]` ÷1.1, `(text:w)` ×w, nesting multiplies, `\(` `\)` `\[`
 * `\]` `\\` are literals, unmatched closers stay as text, unclosed openers apply to the rest of the prompt, and
 * `BREAK` yields a `['BREAK', -1]` entry. Neighbours of equal weight are merged. Weights are clamped (see
 * MAX_WEIGHT); prompts over MAX_PROMPT_CHARS or nested deeper than MAX_BRACKET_DEPTH are refused.
 */
export function parsePromptAttention(prompt: string): WeightedText[] {
  if (prompt.length > MAX_PROMPT_CHARS) {
    throw new PromptError(`the prompt is ${prompt.length} characters long; the studio reads at most ${MAX_PROMPT_CHARS}: shorten it`);
  }
  const res: WeightedText[] = [];
  const openRound: number[] = [];
  const openSquare: number[] = [];
  const multiplyFrom = (start: number, multiplier: number): void => {
    for (let p = start; p < res.length; p++) res[p][1] *= multiplier;
  };
  const open = (stack: number[]): void => {
    if (openRound.length + openSquare.length >= MAX_BRACKET_DEPTH) {
      throw new PromptError(`the prompt nests brackets more than ${MAX_BRACKET_DEPTH} deep; write the weight instead, e.g. (word:1.5), or escape literal brackets as \\( and \\[`);
    }
    stack.push(res.length);
  };

  for (const match of prompt.matchAll(ATTENTION_TOKENS)) {
    const [token, weight] = match;
    if (token.startsWith('\\')) res.push([token.slice(1), 1]);
    else if (token === '(') open(openRound);
    else if (token === '[') open(openSquare);
    else if (weight !== undefined && openRound.length > 0) multiplyFrom(openRound.pop()!, parseWeight(weight));
    else if (token === ')' && openRound.length > 0) multiplyFrom(openRound.pop()!, ROUND_MULTIPLIER);
    else if (token === ']' && openSquare.length > 0) multiplyFrom(openSquare.pop()!, SQUARE_MULTIPLIER);
    else {
      splitBreaks(token).forEach((part, i) => {
        if (i > 0) res.push(['BREAK', BREAK_WEIGHT]);
        res.push([part, 1]);
      });
    }
  }
  for (const start of openRound) multiplyFrom(start, ROUND_MULTIPLIER);
  for (const start of openSquare) multiplyFrom(start, SQUARE_MULTIPLIER);
  if (res.length === 0) res.push(['', 1]);
  for (const entry of res) if (entry[1] !== BREAK_WEIGHT) entry[1] = clampWeight(entry[1]);

  const merged: WeightedText[] = [res[0]];
  for (const entry of res.slice(1)) {
    const last = merged[merged.length - 1];
    if (last[1] === entry[1]) last[0] += entry[0];
    else merged.push(entry);
  }
  return merged;
}

function clampWeight(w: number): number {
  if (Math.abs(w) < MIN_WEIGHT) return 0;
  return Math.min(MAX_WEIGHT, Math.max(-MAX_WEIGHT, w));
}

/** Python's str.isspace(), which A1111's `\s` around BREAK means. */
const PY_SPACE = /[\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;
const WORD_CHAR = /[\p{L}\p{N}_]/u;

function isWordAt(text: string, i: number): boolean {
  if (i < 0 || i >= text.length) return false;
  const code = text.codePointAt(i)!;
  // A low surrogate belongs to the character that starts one unit earlier.
  if (code >= 0xdc00 && code <= 0xdfff && i > 0) return WORD_CHAR.test(String.fromCodePoint(text.codePointAt(i - 1)!));
  return WORD_CHAR.test(String.fromCodePoint(code));
}

/**
 * A1111's `re.split(r'\s*\bBREAK\b\s*', text)` with Python's `\s` and word characters, in linear time: a regex
 * retries `\s*` from every space of a long run of spaces before failing (quadratic).
 */
export function splitBreaks(text: string): string[] {
  const parts: string[] = [];
  let partStart = 0;
  let from = 0;
  for (;;) {
    const at = text.indexOf('BREAK', from);
    if (at < 0) break;
    from = at + 1;
    if (isWordAt(text, at - 1) || isWordAt(text, at + 5)) continue;
    let left = at;
    while (left > partStart && PY_SPACE.test(text[left - 1])) left--;
    let right = at + 5;
    while (right < text.length && PY_SPACE.test(text[right])) right++;
    parts.push(text.slice(partStart, left));
    partStart = right;
    from = right;
  }
  parts.push(text.slice(partStart));
  return parts;
}

/** Python's float() of a `[+-]?[.\d]+` match; A1111 fails on malformed numbers such as `1.2.3`, so do we, clearly. */
function parseWeight(text: string): number {
  const value = Number(text.replace(/\p{Nd}/gu, (digit) => String(unicodeDigitValue(digit))));
  if (Number.isNaN(value)) {
    throw new PromptError(`prompt weight ":${text})" is not a number; write e.g. (word:1.2)`);
  }
  if (!Number.isFinite(value) || Math.abs(value) > MAX_WEIGHT) {
    throw new PromptError(`prompt weight ":${text})" is out of range; weights go from -${MAX_WEIGHT} to ${MAX_WEIGHT}, e.g. (word:1.2)`);
  }
  return value;
}

/** Unicode encodes each set of decimal digits as a contiguous run 0..9, so the value is the offset in its run. */
function unicodeDigitValue(digit: string): number {
  const code = digit.codePointAt(0)!;
  let zero = code;
  while (/\p{Nd}/u.test(String.fromCodePoint(zero - 1))) zero--;
  return (code - zero) % 10;
}

/** One 77-token window for the text encoder, with a weight for every token. */
export interface WeightedChunk {
  ids: number[];
  weights: number[];
}

export interface WeightedTokens {
  chunks: WeightedChunk[];
  /** A1111's token count (75 per full chunk plus the tokens of the last one), e.g. for a "12/75" counter. */
  tokenCount: number;
}

export interface WeightedTokenizeOptions {
  /** Padding after the first EOS of each chunk; defaults to the tokenizer's own (`!` for OpenCLIP encoders). */
  pad?: ClipPad;
  /** A chunk that fills up within this many tokens after a comma ends at the comma (A1111's default 20; 0 = off). */
  commaBacktrack?: number;
  /** Token sequences replaced by others (textual-inversion words → their vector ids), as A1111 matches them. */
  replace?: readonly TokenReplacement[];
}

export interface TokenReplacement {
  ids: readonly number[];
  by: readonly number[];
}

/** `tokens` with every occurrence of a replacement's ids swapped for its own (longest names first). */
export function replaceTokens(tokens: readonly number[], replace: readonly TokenReplacement[] = []): number[] {
  if (!replace.length) return [...tokens];
  const ordered = [...replace].sort((a, b) => b.ids.length - a.ids.length);
  const out: number[] = [];
  for (let i = 0; i < tokens.length; ) {
    const r = ordered.find((c) => c.ids.length > 0 && c.ids.every((id, k) => tokens[i + k] === id));
    if (r) {
      out.push(...r.by);
      i += r.ids.length;
    } else out.push(tokens[i++]);
  }
  return out;
}

const CHUNK_TOKENS = 75;

/**
 * Tokenizes an A1111-weighted prompt into chunks of BOS + 75 tokens + EOS, as A1111's `tokenize_line` does:
 * `BREAK` starts a new chunk, and a chunk that fills up shortly after a comma moves the text after it to the next.
 */
export function tokenizeWeighted(tokenizer: ClipTokenizer, prompt: string, options: WeightedTokenizeOptions = {}): WeightedTokens {
  const pad = options.pad ?? tokenizer.defaultPad;
  const commaBacktrack = options.commaBacktrack ?? 20;
  const comma = tokenizer.tokenId(',</w>');
  const chunks: WeightedChunk[] = [];
  let ids: number[] = [];
  let weights: number[] = [];
  let tokenCount = 0;
  let lastComma = -1;

  const closeChunk = (isLast = false): void => {
    tokenCount += isLast ? ids.length : CHUNK_TOKENS;
    while (ids.length < CHUNK_TOKENS) {
      ids.push(tokenizer.eosId);
      weights.push(1);
    }
    chunks.push({ ids: [tokenizer.bosId, ...ids, tokenizer.eosId], weights: [1, ...weights, 1] });
    [ids, weights, lastComma] = [[], [], -1];
  };

  for (const [text, weight] of parsePromptAttention(prompt)) {
    if (text === 'BREAK' && weight === BREAK_WEIGHT) {
      closeChunk();
      continue;
    }
    for (const token of replaceTokens(tokenizer.encode(text, { pad }), options.replace)) {
      if (token === comma) {
        lastComma = ids.length;
      } else if (commaBacktrack !== 0 && ids.length === CHUNK_TOKENS && lastComma !== -1 && ids.length - lastComma <= commaBacktrack) {
        const [movedIds, movedWeights] = [ids.splice(lastComma + 1), weights.splice(lastComma + 1)];
        closeChunk();
        [ids, weights] = [movedIds, movedWeights];
      }
      if (ids.length === CHUNK_TOKENS) closeChunk();
      ids.push(token);
      weights.push(weight);
    }
  }
  if (ids.length > 0 || chunks.length === 0) closeChunk(true);

  if (pad === '!') {
    const padId = tokenizer.padId('!');
    for (const chunk of chunks) chunk.ids.fill(padId, chunk.ids.indexOf(tokenizer.eosId) + 1);
  }
  return { chunks, tokenCount };
}
