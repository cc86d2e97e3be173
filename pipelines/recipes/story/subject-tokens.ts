// Where a subject's words sit in a prompt's token sequence (the reference's `subject_word` →
// `ref_token_idx` / `cur_token_idx`): the positions in the UNet's text rows whose cross-attention
// maps locate the subject.
import type { ClipTokenizer } from '../../text/clip-tokenizer.ts';
import { tokenizeWeighted } from '../../text/prompt-weights.ts';

/** Positions of the first occurrence of `words` in `prompt`'s encoded rows (chunks of 77 laid end to end), or undefined. */
export function wordPositions(tokenizer: ClipTokenizer, prompt: string, words: string): number[] | undefined {
  const needle = tokenizer.encode(words);
  if (needle.length === 0) return undefined;
  const ids = tokenizeWeighted(tokenizer, prompt).chunks.flatMap((c) => c.ids);
  for (let start = 0; start + needle.length <= ids.length; start++) {
    if (needle.every((id, k) => ids[start + k] === id)) return needle.map((_, k) => start + k);
  }
  return undefined;
}
