// Loading a model through its family, kept warm in the host's one WarmModels (pipelines/runtime/
// session-cache.ts): generate, head previews and stories on the same model share the loaded pipeline,
// and the model's sessions live in the engine's one session cache (the `sessions` its family loads with).
import { WarmModels, type Releasable } from '../runtime/session-cache.ts';
import type { ResolvedModel } from './registry.ts';
import type { StoryModel } from '../recipes/story/story-model.ts';
import type { LoadSettings } from './types.ts';

const warm = new WarmModels();

// The LoRA set is part of the key: a model with other LoRAs is another set of merged weights.
const key = (use: string, r: ResolvedModel, o: LoadSettings) => JSON.stringify([use, r.family.id, r.probe.target, o.modelsDir ?? null, o.vae ?? null, o.config ?? null, o.loras ?? [], o.providers]);

/** The model's pipeline, loaded once and kept until another model is loaded. */
export function loadModel<P extends Releasable>(r: ResolvedModel<P>, o: LoadSettings): Promise<P> {
  return warm.get(key('pipeline', r, o), (sessions) => r.family.load(r.probe.target, { ...o, sessions }));
}

/** The model's story model, for runStory (its family must run stories). */
export function loadStoryModel(r: ResolvedModel, o: LoadSettings): Promise<StoryModel> {
  const story = r.family.story;
  if (!story) throw new Error(`${r.family.label} has no story model`);
  return warm.get(key('story', r, o), (sessions) => story.load(r.probe.target, { ...o, sessions }));
}

/** Gives the loaded model's memory back (tests, `host.releaseSessions`). */
export function releaseModels(): Promise<void> {
  return warm.clear();
}
