// ControlNet files as people have them: a diffusers folder (config.json + diffusion_pytorch_model
// .safetensors), a single .safetensors in diffusers names (config.json beside it, or none), or a single
// file in the original layout (lllyasviel's `control_*.safetensors`: input_hint_block, zero_convs,
// middle_block_out, optionally under `control_model.`). Without a config the base model's UNet config is
// taken: a ControlNet copies its base's encoder half, and checkControlNetFits says when it does not.
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { SafetensorsFile } from '../io/safetensors.ts';
import { parseControlNetConfig, type ControlNetConfig } from '../models/controlnet/config.ts';
import type { UNetConfig } from '../models/unet/config.ts';
import { skipShapes } from '../models/unet/encoder.ts';
import { componentWeights } from './diffusers-folder.ts';
import { readJsonObject } from './json-fields.ts';
import { originalLayersPerBlock, unetOriginalToDiffusers } from './keymap-unet.ts';
import { indicesUnder, mapKeys, shapeOf, withoutPrefix, type KeyedSource } from './sources.ts';

export interface ControlNetSource {
  path: string;
  /** For messages and metadata: the file or folder name without extension. */
  name: string;
  weights: KeyedSource;
  config: ControlNetConfig;
}

export class ControlNetFileError extends Error {
  constructor(path: string, message: string) {
    super(`--controlnet ${path}: ${message}`);
    this.name = 'ControlNetFileError';
  }
}

const HINT = 'input_hint_block.';

/** Reads a ControlNet; `base` is the UNet config of the model it will steer (used when the file has no config). */
export function loadControlNetSource(path: string, base: UNetConfig): ControlNetSource {
  if (!existsSync(path)) throw new ControlNetFileError(path, 'no such file or folder');
  const name = basename(path, extname(path));
  if (statSync(path).isDirectory()) {
    const configFile = join(path, 'config.json');
    if (!existsSync(configFile)) throw new ControlNetFileError(path, 'a ControlNet folder needs its config.json (diffusers layout)');
    return { path, name, weights: componentWeights(path, 'diffusion_pytorch_model'), config: parseControlNetConfig(readJsonObject(configFile), configFile) };
  }
  if (extname(path).toLowerCase() !== '.safetensors') throw new ControlNetFileError(path, 'only .safetensors files or diffusers folders are read (pickle files can run code when loaded): convert it first');
  const file = SafetensorsFile.open(path);
  const keys = file.keys();
  const prefix = keys.some((k) => k.startsWith(`control_model.${HINT}`)) ? 'control_model.' : '';
  if (keys.some((k) => k.startsWith(prefix + HINT))) {
    const weights = originalControlNet(prefix ? withoutPrefix(file, prefix) : file);
    return { path, name, weights, config: inferredConfig(weights, base) };
  }
  if (!file.has('controlnet_cond_embedding.conv_in.weight')) {
    throw new ControlNetFileError(path, 'this is not a ControlNet (no input_hint_block.* or controlnet_cond_embedding.* tensors); Control-LoRAs and T2I-Adapters are not supported');
  }
  const beside = [join(dirname(path), `${name}.json`), join(dirname(path), 'config.json')].find(existsSync);
  const config = beside ? parseControlNetConfig(readJsonObject(beside), beside) : inferredConfig(file, base);
  return { path, name, weights: file, config };
}

/** Original names → diffusers names. */
function originalControlNet(src: KeyedSource): KeyedSource {
  const keys = src.keys();
  const hintConvs = indicesUnder(keys, HINT).filter((i) => src.has(`${HINT}${i}.weight`)).sort((a, b) => a - b);
  const hintName = new Map(hintConvs.map((i, j) => [i, j === 0 ? 'conv_in' : j === hintConvs.length - 1 ? 'conv_out' : `blocks.${j - 1}`]));
  const layersPerBlock = originalLayersPerBlock(keys);
  return mapKeys(src, (k) => {
    let m = /^input_hint_block\.(\d+)\.(.+)$/.exec(k);
    if (m) return `controlnet_cond_embedding.${hintName.get(Number(m[1]))}.${m[2]}`;
    m = /^zero_convs\.(\d+)\.0\.(.+)$/.exec(k);
    if (m) return `controlnet_down_blocks.${m[1]}.${m[2]}`;
    if (k.startsWith('middle_block_out.0.')) return `controlnet_mid_block.${k.slice('middle_block_out.0.'.length)}`;
    return unetOriginalToDiffusers(k, layersPerBlock);
  });
}

/** The base's encoder half with the conditioning embedding read from the tensor shapes. */
function inferredConfig(src: KeyedSource, base: UNetConfig): ControlNetConfig {
  const blocks = indicesUnder(src.keys(), 'controlnet_cond_embedding.blocks.');
  const convIn = shapeOf(src, 'controlnet_cond_embedding.conv_in.weight');
  const widths = [convIn[0], ...blocks.filter((i) => i % 2 === 1).map((i) => shapeOf(src, `controlnet_cond_embedding.blocks.${i}.weight`)[0])];
  return { unet: { ...base, inChannels: shapeOf(src, 'conv_in.weight')[1] }, conditioningChannels: convIn[1], embeddingChannels: widths, bgr: false };
}

/** What a UNet (or a ControlNet's encoder half) was made for, in people's words. */
export function describeUNet(cfg: UNetConfig, width = cfg.crossAttentionDim[0]): string {
  return cfg.textTime ? 'Stable Diffusion XL' : describeTextWidth(width);
}

/** The family whose UNet takes text of this width (what an add-on that knows only that width was made for). */
export function describeTextWidth(width: number): string {
  if (width === 2048) return 'Stable Diffusion XL';
  if (width === 768) return 'Stable Diffusion 1.x';
  if (width === 1024) return 'Stable Diffusion 2.x';
  return `a UNet with ${width}-wide text`;
}

/**
 * Refuses a ControlNet made for another model family (naming both), or whose residuals would not fit
 * the UNet's skip connections. `model` describes the base model for the message.
 */
export function checkControlNetFits(cn: ControlNetSource, base: UNetConfig, model: string): void {
  const crossKey = cn.weights.keys().find((k) => k.endsWith('.attn2.to_k.weight'));
  const width = crossKey ? shapeOf(cn.weights, crossKey)[1] : cn.config.unet.crossAttentionDim[0];
  const mine = { ...cn.config.unet, textTime: cn.weights.has('add_embedding.linear_1.weight') ? cn.config.unet.textTime ?? base.textTime : undefined };
  const family = describeUNet(mine, width);
  const baseFamily = describeUNet(base);
  if (family !== baseFamily || width !== base.crossAttentionDim[0]) {
    throw new ControlNetFileError(cn.path, `this ControlNet is for ${family}, but the model ${model} is ${baseFamily}: use a ControlNet made for ${baseFamily}`);
  }
  const [a, b] = [skipShapes(cn.config.unet, 64, 64), skipShapes(base, 64, 64)];
  if (JSON.stringify(a) !== JSON.stringify(b)) {
    throw new ControlNetFileError(cn.path, `its blocks (${cn.config.unet.blockOutChannels.join('/')} channels, ${a.down.length} skips) do not match the model ${model}'s UNet (${base.blockOutChannels.join('/')} channels, ${b.down.length} skips)`);
  }
}
