// Loads an image's settings back into the form: exactly from the studio's own chunk when the image
// has one, else field by field from what A1111, ComfyUI or InvokeAI wrote. Returns notes about
// anything that could not be taken over.
import type { HeadWeight, ImportedSettingsView, ModelEntry } from '../../pipelines/jobs/api-studio.ts';
import { GenerateRequestSchema, SAMPLER_NAMES, type SamplerName } from '../../pipelines/jobs/api.ts';
import type { GenerateForm } from './form.svelte.ts';

export interface RecallSource {
  settings?: ImportedSettingsView;
  /** The studio chunk's request (exact), when present. */
  request?: unknown;
}

const multipleOf8 = (n: number | undefined) => (n !== undefined && n >= 64 && n % 8 === 0 ? n : undefined);

function matchModel(name: string | undefined, models: ModelEntry[]): { model?: string; note?: string } {
  if (!name) return {};
  const found = models.find((m) => m.name === name || m.path === name);
  return found ? { model: found.path } : { note: `model "${name}" is not in the models folder; keeping the current model` };
}

export function recall(form: GenerateForm, source: RecallSource, models: ModelEntry[]): string[] {
  const notes: string[] = [];
  const exact = source.request === undefined ? undefined : GenerateRequestSchema.safeParse(source.request);
  if (exact?.success) {
    const r = exact.data;
    Object.assign(form, {
      prompt: r.prompt,
      negative: r.negative,
      steps: r.steps,
      cfg: r.cfg,
      sampler: r.sampler,
      seed: r.seed,
      seedMode: 'fixed',
      batch: r.batch,
      clipSkip: r.clipSkip,
      attention: r.attention.kind,
      linfusionPath: r.attention.kind === 'linfusion' ? r.attention.path : form.linfusionPath,
      pagScale: r.pag?.scale ?? 0,
    });
    if (r.width) form.width = r.width;
    if (r.height) form.height = r.height;
    const m = matchModel(r.model, models);
    if (m.model) form.model = m.model;
    else if (r.model === undefined) form.model = '';
    if (m.note) notes.push(m.note);
    return notes;
  }
  const s = source.settings;
  if (!s) return ['the image has no settings to load'];
  if (s.prompt !== undefined) form.prompt = s.prompt;
  form.negative = s.negativePrompt ?? '';
  if (s.steps !== undefined && Number.isInteger(s.steps) && s.steps >= 1) form.steps = s.steps;
  if (s.cfgScale !== undefined) form.cfg = s.cfgScale;
  if (s.seed !== undefined && Number.isSafeInteger(s.seed) && s.seed >= 0) {
    form.seed = s.seed;
    form.seedMode = 'fixed';
  }
  const width = multipleOf8(s.width);
  const height = multipleOf8(s.height);
  if (width) form.width = width;
  if (height) form.height = height;
  if (s.width !== undefined && (!width || !height)) notes.push(`size ${s.width}x${s.height} is not a multiple of 8; keeping the current size`);
  if (s.clipSkip !== undefined && Number.isInteger(s.clipSkip) && s.clipSkip >= 1 && s.clipSkip <= 12) form.clipSkip = s.clipSkip;
  const sampler = s.studioSampler ?? (SAMPLER_NAMES as readonly string[]).find((n) => n === s.sampler);
  if (sampler) form.sampler = sampler as SamplerName;
  else if (s.sampler) notes.push(`sampler "${s.sampler}${s.scheduler ? ` / ${s.scheduler}` : ''}" has no equivalent here; keeping ${form.sampler ?? "the model's default"}`);
  const m = matchModel(s.model, models);
  if (m.model) form.model = m.model;
  if (m.note) notes.push(m.note);
  return notes;
}

/** The heads a studio image was generated with (its exact request's `pag.heads`; none: []); undefined without an exact request. */
export function recalledHeads(request: unknown): HeadWeight[] | undefined {
  if (request === undefined) return undefined;
  const exact = GenerateRequestSchema.safeParse(request);
  return exact.success ? (exact.data.pag?.heads ?? []) : undefined;
}

export const SOURCE_LABELS: Record<ImportedSettingsView['source'], string> = {
  studio: 'Diffusion Studio',
  a1111: 'A1111',
  comfyui: 'ComfyUI',
  invokeai: 'InvokeAI',
};
