// What a model path holds, told from tensor names and shapes (files) or config files (folders): a model
// family's checkpoint (each family's signature, ./signatures.ts), or one of the files that are not a
// model by themselves (LoRA, VAE, LinFusion modules), or nothing known.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SafetensorsFile } from '../io/safetensors.ts';
import { TorchPtFile } from '../io/torch-pt.ts';
import { readJsonObject } from './json-fields.ts';
import { signature, SIGNATURES } from './signatures.ts';

/** A model family's id (pipelines/families), or what a file that is not a model holds. */
export type Family = string;

export interface Detection {
  family: Family;
  layout: 'diffusers' | 'single-file';
  /** One sentence for people: what the path holds. */
  description: string;
}

const has = (keys: readonly string[], prefix: string) => keys.some((k) => k.startsWith(prefix));

/** Family of one safetensors file from its tensor names. */
export function detectTensorNames(keys: readonly string[]): Detection {
  const file = (family: Family, description: string): Detection => ({ family, layout: 'single-file', description });
  for (const sig of SIGNATURES) {
    const description = sig.recogniseFile(keys);
    if (description) return file(sig.id, description);
  }
  const unet = has(keys, 'model.diffusion_model.');
  if (unet && has(keys, 'conditioner.embedders.')) return file('unknown', 'an SGM checkpoint with one OpenCLIP text encoder (an SDXL refiner?), which is not supported');
  if (unet) return file('unknown', 'a UNet without a known text encoder (`model.diffusion_model.*` only)');
  const lora = keys.filter((k) => /(lora_down|lora_up|lora_A|lora_B|lora\.down|lora\.up)\./.test(k) || k.endsWith('.alpha'));
  if (lora.length > 0 && lora.length >= keys.length / 2) {
    const parts = [has(keys, 'lora_unet_') || keys.some((k) => /(^|\.)unet\./.test(k)) ? 'UNet' : '', has(keys, 'lora_te') || keys.some((k) => k.includes('text_encoder')) ? 'text encoder' : '']
      .filter(Boolean)
      .join(' and ');
    return file('lora', `a LoRA (low-rank adapter${parts ? ` for the ${parts}` : ''}, ${keys.length} tensors)`);
  }
  const vaePrefix = has(keys, 'first_stage_model.') ? 'first_stage_model.' : '';
  if (has(keys, `${vaePrefix}encoder.conv_in.`) && has(keys, `${vaePrefix}decoder.conv_in.`)) {
    const layout = has(keys, `${vaePrefix}encoder.down_blocks.`) ? 'diffusers layout' : 'original layout';
    return file('vae', `a VAE-only file (${layout})`);
  }
  if (keys.length > 0 && keys.every((k) => /^\d+\.(to_q_?|to_k_?|to_v|to_out)[.]/.test(k))) {
    return file('linfusion', 'a LinFusion module file (linear-attention modules for a UNet)');
  }
  if (has(keys, 'conv_in.') && has(keys, 'down_blocks.') && has(keys, 'time_embedding.')) {
    return file('unknown', 'a diffusers UNet weights file alone: give the whole pipeline folder (the one with model_index.json)');
  }
  const prefixes = [...new Set(keys.map((k) => k.split('.')[0]))].slice(0, 6);
  return file('unknown', `no known model layout (top-level names: ${prefixes.join(', ') || 'none'})`);
}

/** Family of a diffusers folder from model_index.json (or a LinFusion / VAE config.json). */
export function detectFolder(dir: string): Detection {
  const folder = (family: Family, description: string): Detection => ({ family, layout: 'diffusers', description });
  const indexFile = join(dir, 'model_index.json');
  if (!existsSync(indexFile)) {
    const configFile = join(dir, 'config.json');
    const cls = existsSync(configFile) ? readJsonObject(configFile)._class_name : undefined;
    if (cls === 'LinFusion') return folder('linfusion', 'a LinFusion module folder (linear-attention modules for a UNet)');
    if (cls === 'AutoencoderKL') return folder('vae', 'a diffusers VAE folder');
    return folder('unknown', 'a folder without model_index.json (not a diffusers pipeline folder)');
  }
  const index = readJsonObject(indexFile);
  const cls = String(index._class_name ?? '');
  for (const sig of SIGNATURES) {
    const description = sig.recogniseFolder?.(cls, dir);
    if (description) return folder(sig.id, description);
  }
  return folder('unknown', `a diffusers folder for ${cls || 'an unnamed pipeline'}, which is not supported`);
}

export function detectPath(path: string): Detection {
  if (!existsSync(path)) throw new Error(`${path}: no such file or folder`);
  if (statSync(path).isDirectory()) return detectFolder(path);
  if (/\.pth?$/i.test(path)) return detectTorchPt(path);
  if (!/\.safetensors$/i.test(path)) {
    throw new Error(`${path}: only .safetensors checkpoints are read (pickle .ckpt/.pt/.bin files can run code when loaded); convert it to .safetensors first`);
  }
  return detectTensorNames(SafetensorsFile.open(path).keys());
}

/** .pt files are read (without running pickle code) for the families that publish them (DiT, DiCo). */
function detectTorchPt(path: string): Detection {
  const detection = detectTensorNames(TorchPtFile.open(path).keys());
  if (signature(detection.family)?.readsTorchPt) return detection;
  throw new Error(`${path}: ${detection.description}; .pt files are read for DiT and DiCo checkpoints only: convert other models to .safetensors first`);
}
