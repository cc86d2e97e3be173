// What the head tools draw their small previews with: the form's model, prompt, seed and PAG scale,
// and the sampler and CFG when the user chose them (otherwise the engine's preview defaults).
import type { HeadPreviewParams } from '../../pipelines/jobs/api-studio.ts';
import type { GenerateForm } from './form.svelte.ts';
import type { HeadSelection } from './heads.svelte.ts';

/** The PAG scale previews use while PAG is off in the form. */
export const PREVIEW_SCALE = 3;

export function previewParams(form: GenerateForm, heads: HeadSelection): HeadPreviewParams {
  const { sampler, cfg } = form.overrides();
  return {
    ...(sampler ? { sampler } : {}),
    ...(cfg !== undefined ? { cfg } : {}),
    ...(form.model ? { model: form.model } : {}),
    prompt: form.prompt,
    negative: form.negative,
    seed: form.seed,
    scale: form.pagScale > 0 ? form.pagScale : PREVIEW_SCALE,
    steps: heads.previewSteps,
    ep: form.ep,
  };
}
