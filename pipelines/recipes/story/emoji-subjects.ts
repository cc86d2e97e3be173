// Where a story's subjects are named in prompts, for the emoji text encoder (one id per word, after
// the start token): story.ts's locateSubjects for a word tokenizer, with the same rules and messages.
import type { EmojiTokenizer } from '../../models/emoji/tokenizer.ts';
import { StoryInputError } from './boxes.ts';
import { subjectNamed, type Story, type StoryTokens } from './story.ts';

/** Positions (in the encoded row, start token at 0) of the first occurrence of `words` in `prompt`, or undefined. */
export function emojiWordPositions(tokenizer: EmojiTokenizer, prompt: string, words: string): number[] | undefined {
  const strip = (ids: number[]) => ids.filter((id) => id !== tokenizer.special.bos && id !== tokenizer.special.pad);
  const needle = strip(tokenizer.encode(words).ids);
  if (needle.length === 0 || needle.includes(tokenizer.special.unk)) return undefined;
  const ids = tokenizer.encode(prompt).ids;
  for (let start = 1; start + needle.length <= ids.length; start++) {
    if (needle.every((id, k) => ids[start + k] === id)) return needle.map((_, k) => start + k);
  }
  return undefined;
}

/**
 * Each scene's subjects and their word positions. References need no positions here: an emoji
 * reference's mask comes from its drawing (emoji-story.ts), so `subjects` holds empty lists.
 */
export function locateEmojiSubjects(story: Story, tokenizer: EmojiTokenizer): StoryTokens {
  const at = (prompt: string, name: string) => emojiWordPositions(tokenizer, prompt, subjectNamed(story, name).words);
  const scenes = story.scenes.map((scene, k) => {
    const listed = scene.subjects ?? story.subjects.filter((s) => at(scene.prompt, s.name) || scene.boxes[s.name]).map((s) => s.name);
    const missing = listed.filter((n) => !at(scene.prompt, n));
    if (missing.length) {
      const named = listed.length - missing.length;
      throw new StoryInputError(
        `scene ${k + 1} ("${scene.prompt}") has ${listed.length} subjects but its prompt names ${named === 0 ? 'none of them' : `only ${named}`}: ` +
          `${missing.map((n) => `"${subjectNamed(story, n).words}" (${n})`).join(', ')} ${missing.length === 1 ? 'does' : 'do'} not occur in it` +
          ` (within the model's first ${tokenizer.maxLength - 1} words, all of them known to it); add the words to the prompt or drop the subject from the scene`,
      );
    }
    return { names: listed, positions: listed.map((n) => at(scene.prompt, n)!) };
  });
  return { subjects: story.subjects.map(() => []), scenes };
}
