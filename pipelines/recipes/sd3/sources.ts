// What an SD3 / SD3.5 model is made of once loaded, whatever its layout: the MMDiT, the VAE, CLIP-L,
// CLIP-G and (optionally: SD3 runs without it, as diffusers allows) T5, each as tensors under the names
// the models read, with configs and tokenizer locations. Diffusers folders are read here; single files
// in single-file.ts.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalTextEncoder, componentWeights } from '../../checkpoints/diffusers-folder.ts';
import { readJsonObject, type JsonObject } from '../../checkpoints/json-fields.ts';
import type { KeyedSource } from '../../checkpoints/sources.ts';
import type { ClipPart } from '../../checkpoints/components.ts';
import { findTokenizerDir } from '../../checkpoints/tokenizers.ts';
import { clipTextConfigFromHf } from '../../models/clip/config.ts';
import { mmditConfigFromDiffusers, type MmditConfig } from '../../models/mmdit/config.ts';
import { t5ConfigFromHf, type T5Config } from '../../models/t5/config.ts';
import { vaeConfigFromDiffusers, type VaeConfig } from '../../models/vae/config.ts';

/** A CLIP text encoder of the model, with its tokenizer. */
export type Sd3TextEncoder = ClipPart;

export interface Sd3Sources {
  path: string;
  layout: 'diffusers' | 'single-file';
  transformer: KeyedSource;
  transformerConfig: MmditConfig;
  vae: KeyedSource;
  vaeConfig: VaeConfig;
  clipL: Sd3TextEncoder;
  clipG: Sd3TextEncoder;
  /** Absent: prompts are encoded by CLIP only and T5's part of the context is zeros. */
  t5?: { source: KeyedSource; config: T5Config; tokenizer: string };
  /** diffusers FlowMatchEulerDiscreteScheduler config. */
  scheduler: JsonObject;
}

/** SD3's scheduler when a model brings none (stabilityai/stable-diffusion-3-medium-diffusers). */
export const SD3_SCHEDULER: JsonObject = { num_train_timesteps: 1000, shift: 3.0 };

/** A scheduler_config.json without its bookkeeping keys. */
export function schedulerConfig(json: JsonObject): JsonObject {
  const { _class_name: _c, _diffusers_version: _v, _use_default_values: _d, ...config } = json;
  return config;
}

export function loadSd3Folder(dir: string, o: { modelsDir?: string; withoutT5?: boolean } = {}): Sd3Sources {
  const config = (component: string) => readJsonObject(join(dir, component, 'config.json'));
  for (const c of ['transformer', 'vae', 'text_encoder', 'text_encoder_2']) {
    if (!existsSync(join(dir, c))) {
      throw new Error(`${dir}: an SD3 pipeline folder needs ${c}/ (SD3 conditions on CLIP-L in text_encoder/ and CLIP-G in text_encoder_2/; T5 in text_encoder_3/ is optional)`);
    }
  }
  const clip = (component: string, index: number): Sd3TextEncoder => ({
    source: canonicalTextEncoder(componentWeights(join(dir, component), 'model')),
    config: clipTextConfigFromHf(config(component), join(dir, component, 'config.json')),
    tokenizerDir: findTokenizerDir(index, { modelDir: dir, modelsDir: o.modelsDir, model: dir, familyName: 'SD3' }),
  });
  const hasT5 = !o.withoutT5 && existsSync(join(dir, 'text_encoder_3'));
  const schedulerFile = join(dir, 'scheduler', 'scheduler_config.json');
  return {
    path: dir,
    layout: 'diffusers',
    transformer: componentWeights(join(dir, 'transformer'), 'diffusion_pytorch_model'),
    transformerConfig: mmditConfigFromDiffusers(config('transformer'), join(dir, 'transformer', 'config.json')),
    vae: componentWeights(join(dir, 'vae'), 'diffusion_pytorch_model'),
    vaeConfig: vaeConfigFromDiffusers(config('vae'), join(dir, 'vae', 'config.json')),
    clipL: clip('text_encoder', 0),
    clipG: clip('text_encoder_2', 1),
    t5: hasT5
      ? {
          source: componentWeights(join(dir, 'text_encoder_3'), 'model'),
          config: t5ConfigFromHf(config('text_encoder_3'), join(dir, 'text_encoder_3', 'config.json')),
          tokenizer: join(dir, 'tokenizer_3'),
        }
      : undefined,
    scheduler: existsSync(schedulerFile) ? schedulerConfig(readJsonObject(schedulerFile)) : SD3_SCHEDULER,
  };
}
