// The story job's engine side: the story checked with the story recipe's own rules, run by the story
// runner of the model's family (the embedded emoji-DiT, or Stable Diffusion), and each image returned
// as 8-bit RGB with its PNG text chunks (A1111 parameters and the whole story).
import { loadStoryModel } from '../families/load.ts';
import { FAMILIES, resolveModel } from '../families/registry.ts';
import { providersFor } from '../families/results.ts';
import { modelLabel } from '../metadata/generation-metadata.ts';
import { toRgb8 } from '../recipes/images.ts';
import { StoryInputError } from '../recipes/story/boxes.ts';
import { DEFAULT_STORY_MODEL } from '../recipes/story/emoji-dit-story-model.ts';
import { storyImageChunks } from '../recipes/story/story-metadata.ts';
import { runStory } from '../recipes/story/run-story.ts';
import type { StoryProgress } from '../recipes/story/story-model.ts';
import { parseStory } from '../recipes/story/story.ts';
import { BadRequestError, type JobOf, type StoryOutput, type StoryRequest } from './api.ts';

export async function runStoryJob(job: JobOf<'story'>, o: { signal: AbortSignal; onProgress: (p: StoryProgress) => void }): Promise<StoryOutput> {
  try {
    const story = parseStory(job.story, job.source);
    const resolved = resolveModel(job.model ?? story.model ?? DEFAULT_STORY_MODEL, job.modelsDir, 'story mode');
    if (!resolved.family.story) {
      const runs = FAMILIES.filter((f) => f.story).map((f) => f.label).join(', ');
      throw new BadRequestError(`${resolved.probe.target}: ${resolved.family.label} does not run story mode; story mode runs ${runs}`);
    }
    const model = await loadStoryModel(resolved, { modelsDir: job.modelsDir, providers: providersFor(job.ep) });
    const result = await runStory(model, story, { plainScenes: job.plain, signal: o.signal, onProgress: o.onProgress });
    const target = resolved.probe.target;
    return {
      seed: result.story.seed ?? 0,
      story: result.story as StoryRequest,
      model: target,
      notes: result.notes,
      timings: result.timings,
      ep: result.provider,
      images: result.images.map((image) => ({
        ...toRgb8(image.rgb, 0, image.width, image.height),
        kind: image.kind,
        index: image.index,
        seed: image.seed,
        chunks: storyImageChunks(image, result.story, modelLabel(target), job.studioVersion),
      })),
    };
  } catch (e) {
    // A story the model cannot run as written is the caller's to fix.
    if (e instanceof StoryInputError) throw new BadRequestError(e.message);
    throw e;
  }
}
