// Loading a diffusers pipeline folder (model_index.json + one folder per component).
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { SafetensorsFile } from '../io/safetensors.ts';
import { clipTextConfigFromHf } from '../models/clip/config.ts';
import { vaeConfigFromDiffusers } from '../models/vae/config.ts';
import type { ClipPad } from '../text/clip-tokenizer.ts';
import type { SchedulerSpec, SdCheckpointProfile } from './signature.ts';
import { readJsonObject, type JsonObject } from './json-fields.ts';
import { hfClipToCanonical } from './keymap-clip.ts';
import type { LoadOptions, PipelineSources, PredictionType } from './pipeline-sources.ts';
import { ShardedSource, mapKeys, type KeyedSource } from './sources.ts';
import { findTokenizerDir, tokenizerPad } from './tokenizers.ts';

/** The weights of one component folder: `<base>.safetensors`, its fp16 variant, or a sharded index. */
export function componentWeights(dir: string, base: string): KeyedSource {
  for (const name of [`${base}.safetensors`, `${base}.fp16.safetensors`]) {
    if (existsSync(join(dir, name))) return SafetensorsFile.open(join(dir, name));
  }
  for (const name of [`${base}.safetensors.index.json`, `${base}.safetensors.index.fp16.json`, `${base}.fp16.safetensors.index.json`]) {
    if (existsSync(join(dir, name))) return ShardedSource.open(join(dir, name));
  }
  const present = existsSync(dir) ? readdirSync(dir) : [];
  if (present.some((f) => /\.(bin|ckpt|pt|pth)$/.test(f))) {
    throw new Error(`${dir}: only pickle weights (${present.filter((f) => /\.(bin|ckpt|pt|pth)$/.test(f)).join(', ')}) are here; the studio reads .safetensors only (pickle files can run code when loaded): convert them first`);
  }
  throw new Error(`${dir}: no ${base}.safetensors (${existsSync(dir) ? `found: ${present.join(', ') || 'nothing'}` : 'the folder is missing'})`);
}

/** Text-encoder names without HF's optional `text_model.` prefix. */
export const canonicalTextEncoder = (src: KeyedSource): KeyedSource => mapKeys(src, (k) => hfClipToCanonical(k, ''));

export function readScheduler(dir: string, profile: SdCheckpointProfile): { spec: SchedulerSpec; prediction: PredictionType; reason: string } | undefined {
  const file = join(dir, 'scheduler', 'scheduler_config.json');
  if (!existsSync(file)) return undefined;
  const json = readJsonObject(file);
  const { _class_name: cls, _diffusers_version: _v, ...config } = json;
  const prediction = (typeof config.prediction_type === 'string' ? config.prediction_type : 'epsilon') as PredictionType;
  const className = typeof cls === 'string' ? cls : profile.scheduler(prediction).className;
  return { spec: { className, config }, prediction, reason: `${file}` };
}

export function loadDiffusersFolder(dir: string, profile: SdCheckpointProfile, description: string, o: LoadOptions): PipelineSources {
  const index = readJsonObject(join(dir, 'model_index.json'));
  const encoderNames = profile.textEncoderFolders;
  for (const component of ['unet', 'vae', ...encoderNames]) {
    if (index[component] === undefined && !existsSync(join(dir, component))) {
      throw new Error(`${dir}: the ${profile.name} pipeline needs a ${component}/ folder, which model_index.json does not list and the folder lacks`);
    }
  }
  const config = (component: string): JsonObject => readJsonObject(join(dir, component, 'config.json'));
  const scheduler = readScheduler(dir, profile);
  const prediction = o.predictionType ?? scheduler?.prediction ?? 'epsilon';
  const pads: ClipPad[] = profile.pads.map((pad, i) => tokenizerPad(i, dir, pad));
  return {
    family: profile.id,
    layout: 'diffusers',
    path: dir,
    description,
    unet: componentWeights(join(dir, 'unet'), 'diffusion_pytorch_model'),
    vae: componentWeights(join(dir, 'vae'), 'diffusion_pytorch_model'),
    textEncoders: encoderNames.map((n) => canonicalTextEncoder(componentWeights(join(dir, n), 'model'))),
    unetConfig: config('unet'),
    vaeConfig: vaeConfigFromDiffusers(config('vae'), join(dir, 'vae', 'config.json')),
    textConfigs: encoderNames.map((n) => clipTextConfigFromHf(config(n), join(dir, n, 'config.json'))),
    scheduler: scheduler?.spec ?? profile.scheduler(prediction),
    predictionType: prediction,
    predictionReason: o.predictionType ? 'given' : scheduler ? `prediction_type in ${scheduler.reason}` : 'family default (no scheduler config)',
    tokenizerDirs: encoderNames.map((_, i) => findTokenizerDir(i, { modelDir: dir, modelsDir: o.modelsDir, model: dir, familyName: profile.name })),
    tokenizerPads: pads,
    textConditioning: profile.textConditioning,
  };
}
