// Story mode in the studio: a story from the UI is checked (boxes inside the image, not overlapping
// too much, naming known subjects), queued like a generation, run by the engine host's story job,
// and every image (subject references, then scenes) written to the gallery with its story metadata.
import type { AppJobSpec } from '../../pipelines/queue/index.ts';
import { randomSeed, type ExecutionProvider, type StoryOutput } from '../../pipelines/jobs/api.ts';
import type { GalleryImage, JobProgress, StoryDraft } from '../../pipelines/jobs/api-studio.ts';
import { HostCrashedError, type EngineJobs } from '../../pipelines/jobs/client.ts';
import { checkStoryDraft } from '../../pipelines/jobs/story-check.ts';
import type { Gallery } from './gallery.ts';
import type { AppJobRun as JobRun } from '../../pipelines/queue/index.ts';

export interface StoryPayload {
  kind: 'story';
  story: StoryDraft & { seed: number };
  model?: string;
  ep?: ExecutionProvider;
}

export function isStoryPayload(payload: unknown): payload is StoryPayload {
  return (payload as { kind?: unknown } | null)?.kind === 'story';
}

export function storyJobSpec(story: StoryDraft, model: string | undefined, ep?: ExecutionProvider): AppJobSpec<StoryPayload> {
  checkStoryDraft(story);
  const seed = story.seed ?? randomSeed();
  const subjects = story.subjects.map((s) => s.name).join(', ');
  return {
    prompt: `story: ${story.scenes.length} scene${story.scenes.length === 1 ? '' : 's'} with ${subjects}`,
    seed,
    batch: story.subjects.length + story.scenes.length,
    ...(story.steps === undefined ? {} : { steps: story.steps }),
    heads: 0,
    payload: { kind: 'story', story: { ...story, seed }, ...(model ? { model } : {}), ...(ep ? { ep } : {}) },
  };
}

export interface StoryRunContext {
  engine: EngineJobs;
  gallery: Gallery;
  modelsDir: string;
  studioVersion: string;
  onProgress(p: JobProgress): void;
  onImage(image: GalleryImage): void;
}

/** Runs a queued story; resolves with the gallery names of its images. */
export async function runStoryJob(payload: StoryPayload, run: JobRun, ctx: StoryRunContext): Promise<string[]> {
  let out: StoryOutput;
  try {
    out = await ctx.engine.submit(
      { kind: 'story', story: payload.story, model: payload.model, ...(payload.ep ? { ep: payload.ep } : {}), modelsDir: ctx.modelsDir, studioVersion: ctx.studioVersion },
      { signal: run.signal, progress: ctx.onProgress },
    );
  } catch (e) {
    if (e instanceof HostCrashedError) throw new Error(`the engine stopped during this story (it ${e.how}); it has been restarted, so run the story again`);
    throw e;
  }
  if (!Array.isArray(out?.images)) throw new Error('the engine returned no story images');
  const names: string[] = [];
  for (const img of out.images) {
    if (!(img.pixels instanceof Uint8Array) || img.pixels.length !== img.width * img.height * 3) throw new Error(`story image ${img.kind} ${img.index + 1}: unexpected pixel data from the engine`);
    const label = img.kind === 'reference' ? `ref${img.index + 1}` : img.kind === 'scene' ? `scene${img.index + 1}` : `scene${img.index + 1}-plain`;
    const entry = await ctx.gallery.saveWithChunks(img, img.chunks, `story-${out.seed}-${label}`);
    names.push(entry.name);
    ctx.onImage(entry);
  }
  return names;
}
