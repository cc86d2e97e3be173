// What a file in a models folder is, from its tensor names and shapes alone (headers only; no
// weights are read): a checkpoint of a registry family, a LoRA / LyCORIS, a textual-inversion
// embedding, a VAE, a ControlNet, an IP-Adapter or its CLIP image encoder, or an upscaler, and the family
// it was made for where the file says; and what a diffusers folder is (classifyFolder).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { detectFolder, detectTensorNames, type Detection } from '../checkpoints/detect.ts';
import { readJsonObject } from '../checkpoints/json-fields.ts';
import { FAMILIES } from '../families/registry.ts';
import { SafetensorsFile } from '../io/safetensors.ts';
import type { TensorFile } from '../io/tensor-file.ts';
import { TorchPtFile } from '../io/torch-pt.ts';
import type { LibraryKind } from '../jobs/api-library.ts';
import { loraFamily } from '../lora/apply.ts';
import { readLoraFile } from '../lora/layers.ts';

export interface Classified {
  kind?: LibraryKind;
  family?: string;
  /** What the file holds when it is none of the kinds, in words. */
  description?: string;
}

/** The text-conditioning width of the Stable Diffusion generations: CLIP-L, OpenCLIP-H, CLIP-L + OpenCLIP-bigG. */
const FAMILY_BY_CONTEXT_WIDTH: Record<number, string> = { 768: 'sd1', 1024: 'sd2', 2048: 'sdxl' };

const LORA_KEY = /(^lora_(unet|te\d?)_|[._]lora_[AB]\.weight$|\.lora[._](down|up)\.weight$|\.hada_w1_a$|\.lokr_w[12](_a)?$)/;
const EMBEDDING_KEYS = new Set(['emb_params', '*', 'clip_l', 'clip_g']);
/** ESRGAN (old and new key names), Real-ESRGAN's compact net, SwinIR: the upscalers A1111 and ComfyUI load. */
const UPSCALER = [/^(conv_first|model\.0)\.weight$/, /^(RRDB_trunk|body|model\.1\.sub)\.\d/, /^layers\.0\.residual_group\./];
/** Wrappers around a state dict in .pth training checkpoints. */
const WRAPPER = /^(params_ema|params|state_dict)\./;

export function openTensorFile(path: string): TensorFile {
  return /\.safetensors$/i.test(path) ? SafetensorsFile.open(path) : TorchPtFile.open(path);
}

function contextWidthFamily(file: TensorFile, keys: readonly string[]): string | undefined {
  const toK = keys.find((k) => /attn2\.to_k\.weight$/.test(k));
  return toK ? FAMILY_BY_CONTEXT_WIDTH[file.info(toK).shape[1]] : undefined;
}

function checkpointFamily(detection: Detection): Classified {
  const probe = { target: '', detection };
  const family = FAMILIES.map((f) => ({ f, score: f.score(probe) })).filter((s) => s.score > 0).sort((a, b) => b.score - a.score)[0]?.f;
  if (family) return { kind: 'checkpoint', family: family.id };
  if (detection.family === 'lora') return { kind: 'lora' };
  if (detection.family === 'vae') return { kind: 'vae' };
  return { description: detection.description };
}

function loraFileFamily(path: string): string | undefined {
  if (!/\.safetensors$/i.test(path)) return undefined;
  const file = readLoraFile(path);
  const named = loraFamily(file);
  if (named) return named;
  const toK = file.layers.find((l) => l.component.kind === 'unet' && /attn2[._]to_k$/.test(l.module) && l.tensors.down);
  return toK && FAMILY_BY_CONTEXT_WIDTH[toK.tensors.down.shape[1]];
}

function embeddingFamily(file: TensorFile): string | undefined {
  if (file.has('clip_g')) return 'sdxl';
  const key = file.has('emb_params') ? 'emb_params' : '*';
  const shape = file.has(key) ? file.info(key).shape : [];
  return FAMILY_BY_CONTEXT_WIDTH[shape[shape.length - 1]];
}

/** Reads the file's header and tells what it holds; throws when the file cannot be read. */
export function classifyFile(path: string): Classified {
  const file = openTensorFile(path);
  const keys = file.keys().map((k) => k.replace(WRAPPER, ''));
  if (keys.length > 0 && keys.length <= 4 && keys.every((k) => EMBEDDING_KEYS.has(k))) return { kind: 'embedding', family: embeddingFamily(file) };
  if (keys.some((k) => k.startsWith('control_model.') || k.startsWith('controlnet_cond_embedding.') || k.startsWith('input_hint_block.'))) {
    return { kind: 'controlnet', family: contextWidthFamily(file, file.keys()) };
  }
  if (keys.some((k) => k.startsWith('image_proj.')) && keys.some((k) => k.startsWith('ip_adapter.'))) {
    const toK = file.keys().find((k) => k.endsWith('.to_k_ip.weight'));
    return { kind: 'ip-adapter', family: toK && FAMILY_BY_CONTEXT_WIDTH[file.info(toK).shape[1]] };
  }
  if (keys.some((k) => k.endsWith('embeddings.patch_embedding.weight')) && keys.includes('visual_projection.weight')) return { kind: 'image-encoder' };
  if (keys.some((k) => LORA_KEY.test(k))) return { kind: 'lora', family: loraFileFamily(path) };
  const upscalerMarks = UPSCALER.filter((re) => keys.some((k) => re.test(k))).length;
  if (upscalerMarks >= 2 || keys.some((k) => UPSCALER[2].test(k)) || (keys.length > 0 && keys.every((k) => /^body\.\d+\./.test(k)))) return { kind: 'upscaler' };
  return checkpointFamily(detectTensorNames(keys));
}

/**
 * A diffusers folder: a pipeline (model_index.json) is a checkpoint of its family; a ControlNet or VAE
 * (config.json naming ControlNetModel / AutoencoderKL) is that kind. Undefined for any other folder,
 * which the library searches for files instead.
 */
export function classifyFolder(dir: string): Classified | undefined {
  if (existsSync(join(dir, 'model_index.json'))) return checkpointFamily(detectFolder(dir));
  const configFile = join(dir, 'config.json');
  if (!existsSync(configFile)) return undefined;
  const config = readJsonObject(configFile);
  if (config._class_name === 'ControlNetModel') {
    const width = Array.isArray(config.cross_attention_dim) ? config.cross_attention_dim[0] : config.cross_attention_dim;
    return { kind: 'controlnet', family: typeof width === 'number' ? FAMILY_BY_CONTEXT_WIDTH[width] : undefined };
  }
  if (config._class_name === 'AutoencoderKL') return { kind: 'vae' };
  return undefined;
}
