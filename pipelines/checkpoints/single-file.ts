// Loading an original-layout single-file checkpoint (A1111 / ComfyUI style .safetensors): each part is
// a renamed view of the one file, so weights stay where they are on disk.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { SafetensorsFile } from '../io/safetensors.ts';
import type { SdCheckpointProfile } from './signature.ts';
import { readScheduler } from './diffusers-folder.ts';
import { resolveClipConfig, resolveUnetConfig, resolveVaeConfig, type GivenConfig } from './infer-config.ts';
import { readJsonObject } from './json-fields.ts';
import { hfClipToCanonical, openClipToCanonical } from './keymap-clip.ts';
import { originalLayersPerBlock, unetOriginalToDiffusers } from './keymap-unet.ts';
import { originalDecoderLevels, vaeOriginalToDiffusers } from './keymap-vae.ts';
import type { LoadOptions, PipelineSources, PredictionType } from './pipeline-sources.ts';
import { indicesUnder, mapKeys, withoutPrefix, type KeyedSource, type MappedSource } from './sources.ts';
import { findTokenizerDir, tokenizerPad } from './tokenizers.ts';

export const UNET_PREFIX = 'model.diffusion_model.';
export const VAE_PREFIX = 'first_stage_model.';

export function originalUnet(file: KeyedSource, prefix = UNET_PREFIX): MappedSource {
  const inner = withoutPrefix(file, prefix);
  const lpb = originalLayersPerBlock(inner.keys());
  return mapKeys(file, (k) => (k.startsWith(prefix) ? unetOriginalToDiffusers(k.slice(prefix.length), lpb) : undefined));
}

export function originalVae(file: KeyedSource, prefix = VAE_PREFIX): MappedSource {
  const levels = originalDecoderLevels(withoutPrefix(file, prefix).keys());
  return mapKeys(file, (k) => (k.startsWith(prefix) ? vaeOriginalToDiffusers(k.slice(prefix.length), levels) : undefined));
}

/** The diffusers folder whose configs complete a single file's: the given one, or `<stem>/` beside the file. */
function configFolder(path: string, o: LoadOptions): string | undefined {
  if (o.configDir && !/\.ya?ml$/i.test(o.configDir)) {
    const dir = existsSync(o.configDir) && statSync(o.configDir).isFile() ? dirname(o.configDir) : o.configDir;
    if (!existsSync(join(dir, 'model_index.json')) && !existsSync(join(dir, 'unet', 'config.json'))) {
      throw new Error(`--config ${o.configDir}: not a diffusers config folder (no model_index.json or unet/config.json) nor an original .yaml config to take the model's settings from`);
    }
    return dir;
  }
  const sibling = join(dirname(path), stem(path));
  return existsSync(join(sibling, 'model_index.json')) ? sibling : undefined;
}

const stem = (path: string) => basename(path).replace(/\.safetensors$/i, '');

/** An original (CompVis/SGM) .yaml config: `--config X.yaml` or `<stem>.yaml` beside the file, as A1111 reads them. */
function yamlPrediction(path: string, o: LoadOptions): { type: PredictionType; reason: string } | undefined {
  const file = o.configDir && /\.ya?ml$/i.test(o.configDir) ? o.configDir : join(dirname(path), `${stem(path)}.yaml`);
  if (!existsSync(file)) {
    if (o.configDir === file) throw new Error(`--config ${file}: no such file`);
    return undefined;
  }
  const v = /^\s*parameterization:\s*["']?v["']?\s*$/m.test(readFileSync(file, 'utf8'));
  return { type: v ? 'v_prediction' : 'epsilon', reason: `${file} ${v ? 'says parameterization: v' : 'names no v parameterization'}` };
}

function given(dir: string | undefined, ...parts: string[]): GivenConfig | undefined {
  if (!dir) return undefined;
  const file = join(dir, ...parts);
  return existsSync(file) ? { json: readJsonObject(file), file } : undefined;
}

/**
 * v-prediction is not written in most single files. In order: a `v_pred` marker tensor, SAI model-spec
 * metadata, then for SD 2.x (4 input channels) a weight statistic: in the 768-v releases the first
 * LayerNorm bias of the last up-block attention spreads far wider (std ≈ 0.2) than in the ε models
 * (≈ 0.03); 0.09 separates them.
 */
function detectPrediction(file: SafetensorsFile, profile: SdCheckpointProfile, unet: MappedSource): { type: PredictionType; reason: string } | undefined {
  if (file.has('v_pred')) return { type: 'v_prediction', reason: 'the checkpoint has a v_pred marker tensor' };
  const spec = file.metadata['modelspec.prediction_type'];
  if (spec) return { type: spec.startsWith('v') ? 'v_prediction' : 'epsilon', reason: `metadata modelspec.prediction_type = ${spec}` };
  if (file.metadata['modelspec.architecture']?.endsWith('-v')) return { type: 'v_prediction', reason: `metadata modelspec.architecture = ${file.metadata['modelspec.architecture']}` };
  if (profile.predictionFromWeights && unet.has('conv_in.weight') && unet.info('conv_in.weight').shape[1] === 4) {
    const keys = unet.keys();
    const level = Math.max(...indicesUnder(keys, 'up_blocks.'));
    const last = Math.max(...indicesUnder(keys, `up_blocks.${level}.attentions.`));
    const name = unet.innerName(`up_blocks.${level}.attentions.${last}.transformer_blocks.0.norm1.bias`);
    if (name) {
      const v = file.readFloat32(name);
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
      const type = std > 0.09 ? 'v_prediction' : 'epsilon';
      return { type, reason: `SD 2.x weight statistic (std ${std.toFixed(3)} of ${name} ${std > 0.09 ? '>' : '≤'} 0.09)` };
    }
  }
  return undefined;
}

export function loadSingleFile(path: string, profile: SdCheckpointProfile, description: string, o: LoadOptions): PipelineSources {
  const file = SafetensorsFile.open(path);
  const cfgDir = configFolder(path, o);
  const unet = originalUnet(file);
  const vae = originalVae(file);
  const encoderSpecs = profile.textEncoders;
  const textEncoders = encoderSpecs.map((spec) =>
    mapKeys(file, (k) => (spec.layout === 'hf' ? hfClipToCanonical(k, spec.prefix) : openClipToCanonical(k, spec.prefix))),
  );
  textEncoders.forEach((src, i) => {
    if (!src.has('embeddings.token_embedding.weight')) throw new Error(`${path}: text encoder ${i + 1} (${encoderSpecs[i].prefix}*) has no token embedding: the file is incomplete`);
  });
  const textConfigs = textEncoders.map((src, i) => resolveClipConfig(src, encoderSpecs[i], given(cfgDir, i === 0 ? 'text_encoder' : `text_encoder_${i + 1}`, 'config.json')));
  const scheduler = cfgDir ? readScheduler(cfgDir, profile) : undefined;
  // What the user put beside the file (or gave with --config) wins over what the weights suggest.
  const found = (scheduler && { type: scheduler.prediction, reason: `prediction_type in ${scheduler.reason}` }) ??
    yamlPrediction(path, o) ??
    detectPrediction(file, profile, unet) ??
    { type: 'epsilon' as const, reason: `${profile.name} default` };
  const prediction = o.predictionType ?? found.type;
  const unetConfig = resolveUnetConfig(unet, profile, given(cfgDir, 'unet', 'config.json'), textConfigs[1]?.projectionDim);
  if (!cfgDir) profile.unetForPrediction?.(unetConfig, prediction);
  const tokenizerLookup = { modelDir: cfgDir, modelsDir: o.modelsDir, model: path, familyName: profile.name };
  return {
    family: profile.id,
    layout: 'single-file',
    path,
    description,
    unet,
    vae,
    textEncoders,
    unetConfig,
    vaeConfig: resolveVaeConfig(vae, profile, given(cfgDir, 'vae', 'config.json')),
    textConfigs,
    scheduler: scheduler?.spec ?? profile.scheduler(prediction),
    predictionType: prediction,
    predictionReason: o.predictionType ? 'given' : found.reason,
    tokenizerDirs: textEncoders.map((_, i) => findTokenizerDir(i, tokenizerLookup)),
    tokenizerPads: profile.pads.map((pad, i) => tokenizerPad(i, cfgDir, pad)),
    textConditioning: profile.textConditioning,
  };
}
