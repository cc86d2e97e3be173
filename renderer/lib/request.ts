// Form → generate call, and the seed bookkeeping after it (random / fixed / increment, as ComfyUI's
// "control after generate" does it).
import type { HeadWeight, ParamsOf } from '../../pipelines/jobs/api-studio.ts';
import type { GenerateRequestInput } from '../../pipelines/jobs/api.ts';
import type { GenerateForm } from './form.svelte.ts';
import type { HeadSelection } from './heads.svelte.ts';
import type { InpaintState } from './inpaint.svelte.ts';
import type { ControlNetState } from './controlnet.svelte.ts';
import type { IpAdapterState } from './ip-adapter.svelte.ts';

/** PAG's default layer in diffusers (`pag_applied_layers="mid"`), used when no head is selected. */
const DEFAULT_PAG_LAYERS = ['mid'];

export function generateParams(form: GenerateForm, heads: HeadSelection, inpaint?: InpaintState, controlNets?: ControlNetState, ipAdapter?: IpAdapterState): ParamsOf<'generate'> {
  const weights: HeadWeight[] = heads.weights();
  const request: GenerateRequestInput = {
    prompt: form.prompt,
    negative: form.negative,
    ...form.overrides(),
    batch: form.batch,
    clipSkip: form.clipSkip,
    loras: form.loras.filter((l) => l.name.trim() !== '').map((l) => ({ name: l.name.trim(), weight: l.weight })),
    attention: form.attention === 'linfusion' ? { kind: 'linfusion', path: form.linfusionPath } : { kind: form.attention },
    ep: form.ep,
  };
  if (form.model) request.model = form.model;
  if (form.vae) request.vae = form.vae;
  const hires = hiresOf(form);
  if (hires) request.hires = hires;
  if (form.embeddingsDir) request.embeddingsDir = form.embeddingsDir;
  if (form.seedMode !== 'random') request.seed = form.seed;
  const units = controlNets?.request() ?? [];
  if (units.length) request.controlNets = units;
  const imagePrompt = ipAdapter?.request();
  if (imagePrompt) request.ipAdapter = imagePrompt;
  if (form.pagScale > 0) {
    const layers = weights.length ? heads.selectedLayerNames() : DEFAULT_PAG_LAYERS;
    request.pag = { scale: form.pagScale, layers };
  }
  if (!inpaint?.image) {
    const fix = hiresFixOf(form);
    if (fix) request.hiresFix = fix;
    return { request, heads: weights };
  }
  // Over a gallery image: outpainting margins, else the painted mask, else plain img2img.
  request.initImage = inpaint.image;
  request.strength = inpaint.strength;
  if (inpaint.outpainting) {
    request.outpaint = { ...inpaint.outpaint };
    return { request, heads: weights };
  }
  const mask = inpaint.painted ? inpaint.maskPngBase64() : undefined;
  return { request, heads: weights, ...(mask ? { maskPngBase64: mask } : {}) };
}

/** The ladder's final size, strengths and memory budget, when the hi-res panel is on and the base size is known. */
function hiresOf(form: GenerateForm): GenerateRequestInput['hires'] {
  if (form.hiresScale <= 1 || !form.width || !form.height) return undefined;
  const strengths = form.hiresStrengths.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  return {
    width: form.width * form.hiresScale,
    height: form.height * form.hiresScale,
    mode: form.hiresMode,
    ...(strengths.length ? { strengths } : {}),
    ...(form.hiresMemory ? { memoryGiB: form.hiresMemory } : {}),
  };
}

/** A1111's hires fix, when ticked and the hi-res ladder is off (both upscale; the engine takes one). */
function hiresFixOf(form: GenerateForm): GenerateRequestInput['hiresFix'] {
  if (!form.hiresFix || form.hiresScale > 1) return undefined;
  return { scale: form.hiresFixScale, denoise: form.hiresFixDenoise, upscaler: form.hiresFixUpscaler, ...(form.hiresFixSteps ? { steps: form.hiresFixSteps } : {}) };
}

/** After a generate call: show the seed that was used, and step it for "increment". */
export function afterGenerate(form: GenerateForm, usedSeed: number): void {
  form.seed = form.seedMode === 'increment' ? usedSeed + 1 : usedSeed;
}
