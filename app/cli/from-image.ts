// `studio generate --from IMAGE.png`: the settings of an image made by this studio (its exact request)
// or by A1111 (its infotext), with the model, LoRAs and embeddings found in the model library by the
// hashes the image recorded, not by the paths it was made with.
import { existsSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  extractLoraTags,
  findImageFiles,
  type FoundFiles,
  type GenerateRequestInput,
  type ImageFiles,
} from '../../pipelines/jobs/api.ts';
import { readImageMetadata, type ImageMetadata } from '../../pipelines/metadata/read-metadata.ts';
import { studioImageFiles } from '../../pipelines/metadata/studio-chunk.ts';
import { withEngine } from './engine.ts';
import { UsageError } from './exit-codes.ts';

export interface FromImage {
  input: GenerateRequestInput;
  notes: string[];
}

/** What the command line gives itself, so that files it replaces need not be found. */
export interface FromOverrides {
  model: boolean;
  loras: boolean;
  embeddings: boolean;
}

function fromSettings(meta: ImageMetadata, path: string): { input: GenerateRequestInput; files: ImageFiles; notes: string[] } {
  if (meta.studio) {
    const r = meta.studio.request;
    // Folders of the machine it was made on do not travel; the library supplies the files.
    const input = { ...r, prompt: extractLoraTags(r.prompt).prompt, loras: undefined, modelsDir: undefined, loraDir: undefined, embeddingsDir: undefined };
    const files = studioImageFiles(meta.studio);
    // A model without a hash (a diffusers folder) keeps the request's path.
    return { input, files: files.model?.hash ? files : { ...files, model: undefined }, notes: [] };
  }
  const s = meta.a1111 ?? meta.settings;
  if (!s) throw new UsageError(`--from ${path}: the image holds no generation settings (no A1111 parameters, studio, ComfyUI or InvokeAI chunks)`);
  const notes: string[] = [];
  if (s.sampler && !s.studioSampler) notes.push(`sampler "${s.sampler}" has no equivalent here; the model's default sampler is used`);
  const fix = s.hiresFix && s.hiresFix.scale <= 8 ? s.hiresFix : undefined;
  if (s.hiresFix && !fix) notes.push(`hires upscale ${s.hiresFix.scale} is beyond the studio's 8; the hires fix is left out`);
  if (fix?.upscaler && !fix.studioUpscaler) notes.push(`hires upscaler "${fix.upscaler}" has no equivalent here; latent is used (for a model upscaler: studio upscale)`);
  const input: GenerateRequestInput = {
    prompt: extractLoraTags(s.prompt ?? '').prompt,
    negative: s.negativePrompt,
    steps: s.steps,
    cfg: s.cfgScale,
    sampler: s.studioSampler,
    seed: s.seed,
    width: s.width,
    height: s.height,
    clipSkip: s.clipSkip,
    ...(fix ? { hiresFix: { scale: fix.scale, denoise: s.denoisingStrength, upscaler: fix.studioUpscaler ?? 'latent', steps: fix.steps } } : {}),
  };
  const files = s.files ?? { model: { name: s.model, hash: s.modelHash }, loras: [], embeddings: [] };
  return { input, files, notes };
}

/** The library's files as request fields; a file that is missing and not given on the command line is an error. */
function applyFound(found: FoundFiles, given: FromOverrides, where: string, path: string): Partial<GenerateRequestInput> {
  const ignored = (m: string) => (m.startsWith('model') && given.model) || (m.startsWith('LoRA') && given.loras) || (m.startsWith('embedding') && given.embeddings);
  const missing = found.missing.filter((m) => !ignored(m));
  if (missing.length) {
    throw new UsageError(`--from ${path}: not found in the model library ${where}: ${missing.join('; ')}. Put the files there (A1111 or ComfyUI layout; \`studio models --dir ${where}\` lists what it holds), give --models-dir DIR, or give --model/--lora/--embeddings yourself`);
  }
  const folders = [...new Set(found.embeddings.map((e) => dirname(e.path)))];
  return {
    ...(found.model ? { model: found.model.path } : {}),
    ...(found.loras.length ? { loras: found.loras.map((l) => ({ name: l.entry.path, weight: l.weight })) } : {}),
    ...(folders.length ? { embeddingsDir: folders[0] } : {}),
  };
}

export async function fromImage(path: string, o: { modelsDir?: string; given: FromOverrides }): Promise<FromImage> {
  let meta: ImageMetadata;
  try {
    meta = readImageMetadata(readFileSync(path), path);
  } catch (e) {
    throw new UsageError(`--from ${path}: ${(e as Error).message}`);
  }
  const { input, files, notes } = fromSettings(meta, path);
  const dir = o.modelsDir ?? 'models';
  const needsLibrary = (files.model && !o.given.model) || (files.loras.length && !o.given.loras) || (files.embeddings.length && !o.given.embeddings);
  if (!needsLibrary) return { input, notes };
  if (!existsSync(dir)) throw new UsageError(`--from ${path}: the image names its model and files by hash, and the model library ${dir} does not exist; give --models-dir DIR (an A1111 or ComfyUI folder)`);
  const catalog = await withEngine((engine) => engine.submit({ kind: 'models.scan', dir, library: true, hashes: true }));
  const found = findImageFiles(files, catalog.library!.entries);
  return { input: { ...input, ...applyFound(found, o.given, dir, path) }, notes: [...notes, ...found.notes] };
}
