// What the head tools draw their small previews with: the form's model, prompt, seed and PAG scale.
import type { HeadPreviewParams } from '../../app/server/api.ts';
import type { GenerateForm } from './form.svelte.ts';
import type { HeadSelection } from './heads.svelte.ts';

/** The PAG scale previews use while PAG is off in the form. */
export const PREVIEW_SCALE = 3;

export function previewParams(form: GenerateForm, heads: HeadSelection): HeadPreviewParams {
  return {
    ...(form.model ? { model: form.model } : {}),
    prompt: form.prompt,
    negative: form.negative,
    seed: form.seed,
    scale: form.pagScale > 0 ? form.pagScale : PREVIEW_SCALE,
    steps: heads.previewSteps,
  };
}
