// What a model path holds, told from tensor names and shapes (files) or config files (folders).
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SafetensorsFile } from '../io/safetensors.ts';
import { TorchPtFile } from '../io/torch-pt.ts';
import { readJsonObject } from './json-fields.ts';

export type Family = 'sd1' | 'sd2' | 'sdxl' | 'sd3' | 'pixart' | 'dit' | 'dico' | 'linfusion' | 'lora' | 'vae' | 'unknown';

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
  if (has(keys, 'model.diffusion_model.joint_blocks.')) {
    const encoders = [['clip_l', 'CLIP-L'], ['clip_g', 'CLIP-G'], ['t5xxl', 'T5']].filter(([k]) => has(keys, `text_encoders.${k}.`)).map(([, n]) => n);
    return file('sd3', `an SD3 checkpoint (MMDiT${has(keys, 'first_stage_model.') ? ', VAE' : ''}${encoders.length ? `, ${encoders.join(', ')}` : ', no text encoders'})`);
  }
  const unet = has(keys, 'model.diffusion_model.');
  if (unet && has(keys, 'conditioner.embedders.')) {
    if (has(keys, 'conditioner.embedders.1.model.')) return file('sdxl', 'an SDXL checkpoint (UNet, two text encoders, VAE)');
    return file('unknown', 'an SGM checkpoint with one OpenCLIP text encoder (an SDXL refiner?), which is not supported');
  }
  if (unet && has(keys, 'cond_stage_model.model.')) return file('sd2', 'an SD 2.x checkpoint (UNet, OpenCLIP text encoder, VAE)');
  if (unet && has(keys, 'cond_stage_model.transformer.')) return file('sd1', 'an SD 1.x checkpoint (UNet, CLIP text encoder, VAE)');
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
  if (has(keys, 'x_embedder.') && has(keys, 't_embedder.') && has(keys, 'blocks.0.adaLN_modulation.')) {
    return file('dit', 'a DiT (class-conditional diffusion transformer)');
  }
  if (has(keys, 'encoder_level_1.') && has(keys, 'decoder_level_1.') && has(keys, 't_embedder_1.')) {
    return file('dico', 'a DiCo (class-conditional ConvNet diffusion model)');
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
  if (cls.startsWith('PixArt')) return folder('pixart', `a PixArt diffusers folder (${cls})`);
  if (cls.startsWith('StableDiffusion3')) return folder('sd3', `an SD3 diffusers folder (${cls})`);
  if (cls.startsWith('StableDiffusionXL')) return folder('sdxl', `an SDXL diffusers folder (${cls})`);
  if (cls.startsWith('StableDiffusion') && !cls.includes('3')) {
    const sd2 = isOpenClipTextEncoder(join(dir, 'text_encoder', 'config.json'));
    return folder(sd2 ? 'sd2' : 'sd1', `an SD ${sd2 ? '2.x' : '1.x'} diffusers folder (${cls})`);
  }
  return folder('unknown', `a diffusers folder for ${cls || 'an unnamed pipeline'}, which is not supported`);
}

/** SD 2.x's OpenCLIP-H encoder uses exact GELU; SD 1.x's CLIP-L quick_gelu. Width is the fallback for odd configs. */
function isOpenClipTextEncoder(configFile: string): boolean {
  if (!existsSync(configFile)) return false;
  const cfg = readJsonObject(configFile);
  if (typeof cfg.hidden_act === 'string') return cfg.hidden_act === 'gelu';
  return cfg.hidden_size === 1024;
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

/** .pt files are read (without running pickle code) for the class-conditional families only. */
function detectTorchPt(path: string): Detection {
  const detection = detectTensorNames(TorchPtFile.open(path).keys());
  if (detection.family === 'dit' || detection.family === 'dico') return detection;
  throw new Error(`${path}: ${detection.description}; .pt files are read for DiT and DiCo checkpoints only: convert other models to .safetensors first`);
}
