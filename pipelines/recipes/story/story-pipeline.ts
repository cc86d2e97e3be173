// Transitional: the former SD story entry, until the families and jobs call runStory with
// sdStoryModel (sd-story-model.ts). Delete once nothing imports it.
import type { SdLoadOptions } from '../sd/pipeline.ts';
import { runStory } from './run-story.ts';
import { loadSdStoryModel } from './sd-story-model.ts';
import type { Story } from './story.ts';
import type { StoryModel, StoryResult, StoryRunOptions } from './story-model.ts';

export type { StoryImage, StoryProgress, StoryResult, StoryRunOptions } from './story-model.ts';

export class StoryPipeline {
  private constructor(private readonly model: StoryModel) {}

  static load(path: string, o: SdLoadOptions = {}): StoryPipeline {
    return new StoryPipeline(loadSdStoryModel(path, o));
  }

  run(story: Story, o: StoryRunOptions = {}): Promise<StoryResult> {
    return runStory(this.model, story, o);
  }

  release(): Promise<void> {
    return this.model.release();
  }
}
