// The settings a model draws with when a request leaves them out, as the form shows them: the shipped
// models' own and those of each listed model's family (both from listModels, read from the engine's
// registry of model families). Where the UI cannot know them (a model not yet listed, an unknown
// family) it shows none and the engine decides.
import type { EmbeddedModel, ModelDefaults, ModelEntry, ResolvedSettings } from '../../pipelines/jobs/api.ts';

export type ModelSettings = ResolvedSettings;

export interface ModelCatalog {
  /** The shipped model used when none is chosen. */
  defaultModel: string | undefined;
  embedded: EmbeddedModel[];
  models: ModelEntry[];
}

/** `model` as the picker holds it: '' (the default model), a shipped model's name, or a models-folder path. */
export function modelDefaults(model: string, catalog: ModelCatalog): Partial<ModelSettings> {
  const shipped = catalog.embedded.find((m) => m.name === (model || catalog.defaultModel));
  const defaults: ModelDefaults | undefined = shipped?.defaults ?? catalog.models.find((m) => m.path === model)?.defaults;
  return defaults ?? {};
}
