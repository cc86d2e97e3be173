// Transitional: the former emoji-DiT story entry, until the families and jobs call runStory with
// emojiDitStoryModel (emoji-dit-story-model.ts). Delete once nothing imports it.
import type { EmojiLoadOptions } from '../emoji/pipeline.ts';
import { DEFAULT_STORY_MODEL, emojiDitStoryModel } from './emoji-dit-story-model.ts';
import { runStory } from './run-story.ts';
import type { Story } from './story.ts';
import type { StoryModel, StoryResult, StoryRunOptions } from './story-model.ts';

export { DEFAULT_STORY_MODEL };

export class EmojiStoryPipeline {
  private constructor(private readonly model: StoryModel) {}

  static async load(nameOrDir: string = DEFAULT_STORY_MODEL, o: EmojiLoadOptions = {}): Promise<EmojiStoryPipeline> {
    return new EmojiStoryPipeline(await emojiDitStoryModel(nameOrDir, o));
  }

  run(story: Story, o: StoryRunOptions = {}): Promise<StoryResult> {
    return runStory(this.model, story, o);
  }

  release(): Promise<void> {
    return this.model.release();
  }
}
