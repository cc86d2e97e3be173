// Loads an image's settings back into the form: exactly from the studio's own chunk when the image
// has one, else field by field from what A1111, ComfyUI or InvokeAI wrote. Returns notes about
// anything that could not be taken over.
import type { HeadWeight, ImportedSettingsView, ModelEntry } from '../../pipelines/jobs/api-studio.ts';
import { extractLoraTags, findImageFiles, GenerateRequestSchema, SAMPLER_NAMES, type GenerateRequest, type ImageFiles, type LibraryEntry, type SamplerName } from '../../pipelines/jobs/api.ts';
import { HIRES_SCALES, type GenerateForm } from './form.svelte.ts';
import { libraryFile } from './library-lookup.ts';

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

const folderOf = (path: string) => path.slice(0, Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\')));

function withoutLoraTags(prompt: string): string {
  try {
    return extractLoraTags(prompt).prompt;
  } catch {
    return prompt;
  }
}

/**
 * The image's model, LoRAs and embeddings, found in the library by the hashes the image recorded. What is
 * not found is named and left out, so the next Generate does not fail on it.
 */
function recallFiles(form: GenerateForm, files: ImageFiles, library: LibraryEntry[], notes: string[]): { model: boolean } {
  const found = findImageFiles(files, library);
  if (found.model) form.model = found.model.path;
  form.loras = found.loras.map((l) => ({ name: l.entry.path, weight: l.weight }));
  if (files.loras.length) form.prompt = withoutLoraTags(form.prompt);
  form.embeddingsDir = found.embeddings.length ? folderOf(found.embeddings[0].path) : '';
  for (const m of found.missing) {
    if (m.startsWith('model')) notes.push(`${m}; keeping the current model`);
    else if (m.startsWith('LoRA')) notes.push(`${m}; it is left out`);
    else notes.push(`${m}; its word stays plain prompt text`);
  }
  notes.push(...found.notes);
  return { model: found.model !== undefined || files.model === undefined };
}

/** The hi-res panel as the request had it (off when it had none): final size as a multiple of the base, mode, strengths, memory. */
function recallHires(form: GenerateForm, r: GenerateRequest, notes: string[]): void {
  const h = r.hires;
  const base = form.width && form.height ? { width: form.width, height: form.height } : undefined;
  const scale = h && base ? h.width / base.width : 1;
  const offered = (HIRES_SCALES as readonly number[]).includes(scale) && (!h || !base || h.height === base.height * scale);
  if (h && !offered) notes.push(`hi-res ${h.width}×${h.height} is not a ×2 ladder from ${base ? `${base.width}×${base.height}` : "the model's size"} that the panel offers; hi-res is left off`);
  const on = h !== undefined && offered;
  form.hiresScale = on ? scale : 1;
  form.hiresMode = on ? h.mode : 'ladder';
  form.hiresStrengths = on && h.strengths ? h.strengths.join(', ') : '';
  form.hiresMemory = on ? (h.memoryGiB ?? null) : null;
}

/** The request's VAE when the library has it (by path or name), else the model's own, said so. */
function recallVae(form: GenerateForm, vae: string | undefined, library: LibraryEntry[], notes: string[]): void {
  const found = vae === undefined ? undefined : libraryFile(library, 'vae', vae);
  form.vae = found?.path ?? '';
  if (vae !== undefined && !found) notes.push(`VAE "${vae}" is not in the library; using the model's own`);
}

/** Another app's hires fix (A1111's fields), or off when the image had none. */
function recallHiresFix(form: GenerateForm, s: ImportedSettingsView, notes: string[]): void {
  const h = s.hiresFix;
  form.hiresFix = h !== undefined && h.scale > 1 && h.scale <= 8;
  if (!h || !form.hiresFix) {
    if (h) notes.push(`hires upscale ${h.scale} is beyond the studio's 8; hires fix left off`);
    return;
  }
  form.hiresScale = 1;
  form.hiresFixScale = h.scale;
  form.hiresFixSteps = h.steps ?? null;
  if (s.denoisingStrength !== undefined && s.denoisingStrength > 0 && s.denoisingStrength <= 1) form.hiresFixDenoise = s.denoisingStrength;
  form.hiresFixUpscaler = h.studioUpscaler ?? 'latent';
  if (!h.studioUpscaler && h.upscaler) notes.push(`hires upscaler "${h.upscaler}" has no equivalent here; using latent (for a model upscaler: studio upscale)`);
}

/** The studio chunk's request when it is one this version runs (parsed once per recall, then handed to each panel). */
export function exactRequest(source: RecallSource): GenerateRequest | undefined {
  if (source.request === undefined) return undefined;
  const parsed = GenerateRequestSchema.safeParse(source.request);
  return parsed.success ? parsed.data : undefined;
}

export function recall(form: GenerateForm, source: RecallSource, models: ModelEntry[], library: LibraryEntry[] = [], exact = exactRequest(source)): string[] {
  const notes: string[] = [];
  const files = source.settings?.files;
  if (exact) {
    const r = exact;
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
    recallHires(form, r, notes);
    recallVae(form, r.vae, library, notes);
    form.hiresFix = r.hiresFix !== undefined;
    if (r.hiresFix) Object.assign(form, { hiresFixScale: r.hiresFix.scale, hiresFixDenoise: r.hiresFix.denoise, hiresFixUpscaler: r.hiresFix.upscaler, hiresFixSteps: r.hiresFix.steps ?? null });
    form.loras = [];
    if (files?.model?.hash) {
      recallFiles(form, files, library, notes);
      return notes;
    }
    const m = matchModel(r.model, models);
    if (m.model) form.model = m.model;
    else if (r.model === undefined) form.model = '';
    if (m.note) notes.push(m.note);
    if (files) recallFiles(form, { ...files, model: undefined }, library, notes);
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
  recallHiresFix(form, s, notes);
  if (s.clipSkip !== undefined && Number.isInteger(s.clipSkip) && s.clipSkip >= 1 && s.clipSkip <= 12) form.clipSkip = s.clipSkip;
  const sampler = s.studioSampler ?? (SAMPLER_NAMES as readonly string[]).find((n) => n === s.sampler);
  if (sampler) form.sampler = sampler as SamplerName;
  else if (s.sampler) notes.push(`sampler "${s.sampler}${s.scheduler ? ` / ${s.scheduler}` : ''}" has no equivalent here; keeping ${form.sampler ?? "the model's default"}`);
  if (files?.model?.hash || files?.loras.length || files?.embeddings.length) {
    recallFiles(form, files.model?.hash ? files : { ...files, model: undefined }, library, notes);
    if (files.model?.hash) return notes;
  }
  const m = matchModel(s.model, models);
  if (m.model) form.model = m.model;
  if (m.note) notes.push(m.note);
  return notes;
}

/** The heads a studio image was generated with (its exact request's `pag.heads`; none: []); undefined without an exact request. */
export function recalledHeads(exact: GenerateRequest | undefined): HeadWeight[] | undefined {
  return exact && (exact.pag?.heads ?? []);
}

export const SOURCE_LABELS: Record<ImportedSettingsView['source'], string> = {
  studio: 'Diffusion Studio',
  a1111: 'A1111',
  comfyui: 'ComfyUI',
  invokeai: 'InvokeAI',
};
