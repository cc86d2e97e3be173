// Story mode's engine side (runs in the engine host): the story checked with the engine's own schema,
// run by the story recipe of the model's family (the embedded emoji-DiT, or Stable Diffusion), and
// each image returned as 8-bit RGB with its PNG text chunks (A1111 parameters and the whole story).
import { resolveModelPath } from '../../pipelines/checkpoints/index.ts';
import { isEmojiModel } from '../../pipelines/heads/inspect.ts';
import { modelLabel } from '../../pipelines/metadata/generation-metadata.ts';
import { isEmojiModelName } from '../../pipelines/recipes/emoji/models.ts';
import { toRgb8 } from '../../pipelines/recipes/images.ts';
import { DEFAULT_STORY_MODEL, EmojiStoryPipeline } from '../../pipelines/recipes/story/emoji-story.ts';
import { storyImageChunks } from '../../pipelines/recipes/story/story-metadata.ts';
import { StoryPipeline, type StoryImage, type StoryProgress, type StoryResult } from '../../pipelines/recipes/story/story-pipeline.ts';
import { parseStory, type Story } from '../../pipelines/recipes/story/story.ts';
import type { Rgb8 } from './engine-heads.ts';

export interface StoryInput {
  story: unknown;
  model?: string;
  modelsDir?: string;
  studioVersion: string;
}

export interface StoryOutput {
  seed: number;
  images: Array<Rgb8 & { kind: StoryImage['kind']; index: number; seed: number; chunks: Array<[string, string]> }>;
  notes: string[];
}

interface Runner {
  run(story: Story, o: { signal?: AbortSignal; onProgress?: (p: StoryProgress) => void }): Promise<StoryResult & { notes?: string[] }>;
  release(): Promise<void>;
}

let warm: { key: string; runner: Runner } | undefined;

async function runner(model: string | undefined, modelsDir: string | undefined): Promise<{ runner: Runner; label: string }> {
  const name = model ?? DEFAULT_STORY_MODEL;
  const emoji = isEmojiModel(name, modelsDir);
  const target = emoji && isEmojiModelName(name) ? name : resolveModelPath(name, modelsDir);
  const key = `${emoji ? 'emoji' : 'sd'}:${target}`;
  if (warm?.key !== key) {
    const old = warm;
    warm = undefined;
    await old?.runner.release();
    const loaded: Runner = emoji
      ? await EmojiStoryPipeline.load(target, { providers: ['cpu'] })
      : StoryPipeline.load(target, { modelsDir, providers: ['cpu'] });
    warm = { key, runner: loaded };
  }
  return { runner: warm.runner, label: modelLabel(target) };
}

export async function runStory(input: StoryInput, o: { signal: AbortSignal; onProgress: (p: StoryProgress) => void }): Promise<StoryOutput> {
  const story = parseStory(input.story, 'story');
  const { runner: r, label } = await runner(input.model, input.modelsDir);
  const result = await r.run(story, { signal: o.signal, onProgress: o.onProgress });
  return {
    seed: result.story.seed ?? 0,
    notes: result.notes ?? [],
    images: result.images.map((image) => ({
      ...toRgb8(image.rgb, 0, image.width, image.height),
      kind: image.kind,
      index: image.index,
      seed: image.seed,
      chunks: storyImageChunks(image, result.story, label, input.studioVersion),
    })),
  };
}
