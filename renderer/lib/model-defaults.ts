// The settings a model draws with when a request leaves them out, as the form shows them: the shipped
// models' own (their configs, from listModels), Stable Diffusion's by family. Where the UI cannot know
// them (other families, a model not yet listed) it shows none and the engine decides.
import type { EmbeddedModel, ModelEntry } from '../../app/server/api.ts';
import { STABLE_DIFFUSION_DEFAULTS, STABLE_DIFFUSION_SIZE, type ResolvedSettings } from '../../pipelines/recipes/request.ts';

export type ModelSettings = ResolvedSettings;

const SD_DEFAULTS = STABLE_DIFFUSION_DEFAULTS;
const SD_SIDE = STABLE_DIFFUSION_SIZE;

export interface ModelCatalog {
  /** The shipped model used when none is chosen. */
  defaultModel: string | undefined;
  embedded: EmbeddedModel[];
  models: ModelEntry[];
}

/** `model` as the picker holds it: '' (the default model), a shipped model's name, or a models-folder path. */
export function modelDefaults(model: string, catalog: ModelCatalog): Partial<ModelSettings> {
  const shipped = catalog.embedded.find((m) => m.name === (model || catalog.defaultModel));
  if (shipped) return shipped.defaults;
  const side = SD_SIDE[catalog.models.find((m) => m.path === model)?.family ?? ''];
  return side ? { ...SD_DEFAULTS, width: side, height: side } : {};
}
