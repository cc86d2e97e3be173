// What the emoji text encoder can read: its vocabulary is the words of emoji names and keywords. A
// prompt whose every word is outside it would silently draw an arbitrary image (all <unk>), so it is
// refused with the words the model does know; partly unknown or cut-off prompts run with a note.
import { emojiWords, type EmojiEncoding, type EmojiTokenizer } from '../../models/emoji/tokenizer.ts';
import { BadRequestError } from '../../jobs/api.ts';

/** Words shown as examples when they are in the vocabulary (subjects, a modifier, the style words). */
const EXAMPLE_WORDS = ['cat', 'face', 'smiling', 'heart', 'pizza', 'dog', 'rocket', 'sun', 'tree', 'red', 'noto', 'twemoji', 'style'];
const SPECIAL = /^<.*>$/;

export function exampleWords(tokenizer: EmojiTokenizer, n = 10): string[] {
  const known = EXAMPLE_WORDS.filter((w) => tokenizer.idOf(w) !== undefined);
  const fill = tokenizer.vocab.filter((w) => !SPECIAL.test(w) && !known.includes(w));
  return [...known, ...fill].slice(0, n);
}

export interface CheckedPrompt {
  encoding: EmojiEncoding;
  notes: string[];
}

/**
 * Encodes `text` (`role` names it in messages: "prompt" or "negative prompt"). Throws BadRequestError
 * when it has words and none of them is known; an empty text is the unconditional prompt.
 */
export function checkPrompt(tokenizer: EmojiTokenizer, text: string, role: string, model: string): CheckedPrompt {
  const encoding = tokenizer.encode(text);
  const notes: string[] = [];
  const quoted = (ws: readonly string[]) => ws.map((w) => `"${w}"`).join(', ');
  const words = emojiWords(text);
  if (words.length > 0 && words.every((w) => tokenizer.idOf(w) === undefined)) {
    throw new BadRequestError(
      `${role} ${JSON.stringify(text)}: ${model} knows none of its words (${quoted(encoding.unknown)}). ` +
        `It was trained on emoji names and keywords (${tokenizer.vocab.filter((w) => !SPECIAL.test(w)).length} words), e.g. ${quoted(exampleWords(tokenizer))}; ` +
        `try "a smiling cat face, noto style".`,
    );
  }
  if (encoding.words === 0 && role === 'prompt') notes.push('empty prompt: an unconditional image (any emoji the model likes)');
  if (encoding.unknown.length > 0) notes.push(`${role}: words ${model} does not know (read as <unk>): ${quoted(encoding.unknown)}`);
  if (encoding.truncated.length > 0) {
    notes.push(`${role}: only the first ${tokenizer.maxLength - 1} words are read; cut off: ${quoted(encoding.truncated)}`);
  }
  return { encoding, notes };
}
