// How the built-in emoji models read a prompt written for any model. Their text encoder knows the words
// of emoji names, keywords and the project's own wordings (words.json); everything else is said, never
// silent and never fatal: A1111 syntax (weights, brackets, BREAK, <tags>) is read as plain words, an
// unknown word is read as the known word spelt most like it or left out, and a prompt with no known word
// draws the emoji name (concepts.json) spelt most like it. Spelling is all the model has to go on: it
// has no meaning for a word it never saw.
import { distance } from 'fastest-levenshtein';
import { emojiWords, type EmojiEncoding, type EmojiTokenizer } from '../../models/emoji/tokenizer.ts';
import { BREAK_WEIGHT, parsePromptAttention } from '../../text/prompt-weights.ts';

const SPECIAL = /^<.*>$/;
const A1111_SYNTAX = /[()[\]]|\bBREAK\b/;
const ANGLE_TAG = /<[^<>]*>/g;
/** Notes list at most this many words; the rest are counted. */
const LISTED_WORDS = 8;

export interface PromptReading {
  encoding: EmojiEncoding;
  /** The words the model reads, after syntax, substitutions and dropped words. */
  read: string;
  notes: string[];
}

export interface ReadOptions {
  /** "prompt", "negative prompt", "scene 2 prompt"… (starts every note about this text). */
  role: string;
  /** The model's name, for the notes. */
  model: string;
  /** The unconditional role: a text without known words becomes the empty prompt instead of a concept. */
  negative?: boolean;
}

/** Reads `text` as the model will: never throws for unknown words, says what it did in `notes`. */
export function readPrompt(tokenizer: EmojiTokenizer, text: string, o: ReadOptions): PromptReading {
  const notes: string[] = [];
  const plain = plainText(text, o.role, notes);
  const words = emojiWords(plain);
  const limit = tokenizer.maxLength - 1;
  const kept: string[] = [];
  const substituted: string[] = [];
  const dropped: string[] = [];
  // Only the words that fit are looked at: the rest of a 5,000-word prompt is cut off unread.
  for (const w of words) {
    if (kept.length === limit) break;
    if (tokenizer.idOf(w) !== undefined) kept.push(w);
    else {
      const near = nearestWord(tokenizer, w);
      if (near) {
        kept.push(near);
        substituted.push(`"${w}" as "${near}"`);
      } else dropped.push(w);
    }
  }
  const cut = words.length - kept.length - dropped.length;
  if (substituted.length) notes.push(`${o.role}: ${o.model} does not know ${listOf(unique(substituted), (s) => s.replace(/ as .*/, ''))}; it reads ${listOf(unique(substituted))} (another form or a typo of it)`);
  if (dropped.length && kept.length) notes.push(`${o.role}: ${o.model} does not know ${listOf(unique(dropped), quote)} and leaves ${dropped.length === 1 ? 'it' : 'them'} out`);
  if (cut > 0) notes.push(`${o.role}: ${o.model} reads the first ${limit} words; ${cut} more ${cut === 1 ? 'is' : 'are'} cut off (${listOf(words.slice(words.length - cut), quote)})`);

  let read = kept.join(' ');
  if (words.length > 0 && kept.length === 0) {
    const unknown = listOf(unique(dropped), quote);
    if (o.negative) {
      notes.push(`${o.role} ${JSON.stringify(text)}: ${o.model} knows none of its words (${unknown}), so it is left out: the unconditional (empty) prompt is used`);
    } else {
      const concept = nearestConcept(tokenizer.concepts, words.join(' '));
      read = concept;
      notes.push(
        `${o.role} ${JSON.stringify(text)}: ${o.model} knows none of its words (${unknown}); it draws the nearest emoji it knows instead: "${concept}" (closest by spelling). ` +
          `It knows emoji names and keywords (${tokenizer.vocab.filter((w) => !SPECIAL.test(w)).length} words), e.g. "a smiling cat face", "a cup of bubble tea", "a puppy".`,
      );
    }
  }
  if (words.length === 0 && !o.negative) notes.push('empty prompt: an unconditional image (any emoji the model likes)');
  return { encoding: tokenizer.encode(read), read, notes };
}

/** Notes for a text encoded word for word (unknown words as <unk>), where word positions must not move. */
export function unreadWordsNotes(encoding: EmojiEncoding, role: string, model: string, maxLength: number): string[] {
  const notes: string[] = [];
  if (encoding.unknown.length) notes.push(`${role}: ${model} does not know ${listOf(encoding.unknown, quote)} (read as <unk>, so that the other words keep their places)`);
  if (encoding.truncated.length) notes.push(`${role}: ${model} reads the first ${maxLength - 1} words; ${encoding.truncated.length} more are cut off (${listOf(encoding.truncated, quote)})`);
  return notes;
}

/** The text without A1111 markup: weights and brackets dropped (this model has no prompt weights), BREAK as a comma, <tags> removed. */
function plainText(text: string, role: string, notes: string[]): string {
  let plain = text;
  const tags = plain.match(ANGLE_TAG) ?? [];
  if (tags.length) {
    plain = plain.replace(ANGLE_TAG, ' ');
    notes.push(`${role}: ${listOf(unique(tags), (t) => t)} ignored (LoRA, hypernetwork and other tags are for Stable Diffusion models)`);
  }
  if (A1111_SYNTAX.test(plain)) {
    try {
      plain = parsePromptAttention(plain)
        .map(([t, w]) => (w === BREAK_WEIGHT ? ', ' : t))
        .join('');
    } catch {
      // Nested too deep for the A1111 parser: without weights the brackets mean nothing here anyway.
      plain = plain.replace(/[()[\]]|\bBREAK\b/g, ' ');
    }
    notes.push(`${role}: weights, brackets and BREAK are read as plain words (the built-in models have no prompt weights)`);
  }
  return plain;
}

/** Endings an English word takes, and what the stem then ends with ("puppies" → "puppy", "boxes" → "box"). */
const INFLECTIONS: ReadonlyArray<[ending: string, stem: string]> = [
  ['ies', 'y'], ['es', ''], ['s', ''], ['ing', ''], ['ing', 'e'], ['ed', ''], ['ed', 'e'], ['er', ''], ['est', ''], ['ly', ''],
];

/**
 * The known word `word` is another form or a typo of: its stem without a common ending ("puppies" →
 * "puppy"), else a word one edit away with the same first letter ("piza" → "pizza"). Undefined when
 * there is none: nothing further is guessed from spelling ("blurry" is not "berry").
 */
export function nearestWord(tokenizer: EmojiTokenizer, word: string): string | undefined {
  if (/\d/.test(word) || word.length < 4) return undefined;
  for (const [ending, stem] of INFLECTIONS) {
    if (!word.endsWith(ending) || word.length - ending.length < 3) continue;
    const base = word.slice(0, word.length - ending.length) + stem;
    if (tokenizer.idOf(base) !== undefined) return base;
  }
  let best: string | undefined;
  for (const candidate of tokenizer.vocab) {
    if (candidate[0] !== word[0] || SPECIAL.test(candidate) || Math.abs(candidate.length - word.length) > 1) continue;
    if (distance(word, candidate) === 1 && (best === undefined || sharedPrefix(word, candidate) > sharedPrefix(word, best))) best = candidate;
  }
  return best;
}

/** The concept whose name is spelt most like `text`, relative to the longer of the two; ties: the earlier (more common) concept. */
export function nearestConcept(concepts: readonly string[], text: string): string {
  if (concepts.length === 0) throw new Error('the emoji text encoder folder has no concepts.json (a broken install?)');
  let best = concepts[0];
  let bestScore = Infinity;
  for (const c of concepts) {
    const score = distance(text, c) / Math.max(text.length, c.length);
    if (score < bestScore) {
      best = c;
      bestScore = score;
    }
  }
  return best;
}

function sharedPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

const quote = (w: string) => `"${w}"`;

function unique<T>(xs: readonly T[]): T[] {
  return [...new Set(xs)];
}

/** `"a", "b" and 3 more`: the first few items, then a count. */
function listOf(items: readonly string[], show: (s: string) => string = (s) => s): string {
  const shown = items.slice(0, LISTED_WORDS).map(show).join(', ');
  return items.length > LISTED_WORDS ? `${shown} and ${items.length - LISTED_WORDS} more` : shown;
}
