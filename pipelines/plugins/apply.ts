// Presets applied to generation settings. Style and sampler presets work on the option texts of
// `studio generate` (before validation, so their values go through the same checks as typed ones):
// a style rewrites the prompt and negative prompt; a sampler preset fills in the options not given.
// A head preset becomes the request's per-head perturbed-attention guidance.
import type { HeadPreset } from '../heads/presets.ts';
import type { GenerateRequest } from '../jobs/api.ts';
import type { PresetRef } from './registry.ts';
import { applyStyleText } from './styles.ts';

/** The generate options presets touch, as the option parser holds them (text). */
export interface PresetFlags {
  prompt?: string;
  negative?: string;
  steps?: string;
  cfg?: string;
  sampler?: string;
  'clip-skip'?: string;
}

export function applyPresetsToFlags<V extends PresetFlags>(values: V, presets: ReadonlyArray<PresetRef<'style' | 'sampler'>>): V {
  const out: V = { ...values };
  for (const ref of presets) {
    if (ref.kind === 'style') {
      const style = ref.value as PresetRef<'style'>['value'];
      out.prompt = applyStyleText(style.prompt, out.prompt ?? '');
      const negative = applyStyleText(style.negative, out.negative ?? '');
      if (negative !== '' || out.negative !== undefined) out.negative = negative;
    } else {
      const s = ref.value as PresetRef<'sampler'>['value'];
      if (s.sampler !== undefined) out.sampler ??= s.sampler;
      if (s.steps !== undefined) out.steps ??= String(s.steps);
      if (s.cfg !== undefined) out.cfg ??= String(s.cfg);
      if (s.clipSkip !== undefined) out['clip-skip'] ??= String(s.clipSkip);
    }
  }
  return out;
}

/** The request with the head preset's heads (strength u) and guidance scale as its PAG settings. */
export function withHeadPreset(request: GenerateRequest, preset: HeadPreset): GenerateRequest {
  const heads = preset.heads.map((h) => ({ layer: h.layer, head: h.head, strength: h.u }));
  return { ...request, pag: { layers: request.pag?.layers ?? ['mid'], scale: preset.scale, heads } };
}
