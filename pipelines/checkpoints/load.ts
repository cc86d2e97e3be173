// Entry point: an SD 1.x / 2.x / XL model from a path (diffusers folder or single file) or a name in
// the models directory, with a clear error for anything else given as a model.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { detectPath, type Detection } from './detect.ts';
import { loadDiffusersFolder } from './diffusers-folder.ts';
import type { LoadOptions, PipelineSources } from './pipeline-sources.ts';
import { loadSingleFile } from './single-file.ts';
import { sdProfile } from './signatures.ts';
import { loadVaeOverride } from './vae-override.ts';

export class NotAModelError extends Error {
  constructor(
    readonly path: string,
    readonly detection: Detection,
    advice: string,
  ) {
    super(`${path} is ${detection.description}, not a Stable Diffusion model. ${advice}`);
    this.name = 'NotAModelError';
  }
}

const ADVICE: Record<string, string> = {
  lora: 'A LoRA adapts a base model: give a full SD 1.x/2.x/XL checkpoint or diffusers folder as the model (applying LoRA files is not supported yet).',
  vae: 'Give a full checkpoint or diffusers folder as the model and this file as its VAE (`--vae FILE`).',
  linfusion: 'It replaces the self-attention of an SD UNet: give the SD model as the model and this as `--attention linfusion:PATH`.',
  dit: 'Class-conditional models are run by the DiT pipeline, not by SD text-to-image.',
  dico: 'Class-conditional models are run by the DiCo pipeline, not by SD text-to-image.',
  sd3: 'SD3 / SD3.5 models are run by the SD3 family (pipelines/families/sd3), not by the UNet pipeline.',
  flux: 'FLUX.1 models are run by the FLUX family (pipelines/families/flux), not by the UNet pipeline.',
  pixart: 'PixArt models are run by the PixArt family (pipelines/families/pixart), not by the UNet pipeline.',
  unknown: 'Supported: SD 1.x, SD 2.x and SDXL base, as a diffusers folder (with model_index.json) or a single .safetensors checkpoint.',
};

/** `path` itself, else `<models dir>/<path>` or `<models dir>/<path>.safetensors`. */
export function resolveModelPath(path: string, modelsDir?: string): string {
  if (existsSync(path)) return resolve(path);
  if (modelsDir) {
    for (const candidate of [join(modelsDir, path), join(modelsDir, `${path}.safetensors`)]) {
      if (existsSync(candidate)) return resolve(candidate);
    }
  }
  throw new Error(`model ${path}: no such file or folder${modelsDir ? ` (nor in the models dir ${modelsDir})` : ''}`);
}

export function loadPipelineSources(path: string, o: LoadOptions = {}): PipelineSources {
  const where = resolveModelPath(path, o.modelsDir);
  const detection = detectPath(where);
  const profile = sdProfile(detection.family);
  if (!profile) throw new NotAModelError(where, detection, ADVICE[detection.family]);
  const sources = detection.layout === 'diffusers' ? loadDiffusersFolder(where, profile, detection.description, o) : loadSingleFile(where, profile, detection.description, o);
  // The scheduler config is what samplers read; keep it consistent with the decided prediction type.
  sources.scheduler = { ...sources.scheduler, config: { ...sources.scheduler.config, prediction_type: sources.predictionType } };
  if (o.vae) {
    const override = loadVaeOverride(o.vae, profile, sources.vaeConfig);
    sources.vae = override.source;
    sources.vaeConfig = override.config;
  }
  return sources;
}
