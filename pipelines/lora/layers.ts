// A LoRA file read as layers: every module it changes, with the tensors of its method (LoRA / LoCon,
// LoHa, LoKr, full diff), its alpha and an optional DoRA magnitude. Key styles understood: kohya/A1111
// (`lora_unet_…`, `lora_te_…`, `lora_te1_…`, `lora_te2_…` with `.lora_down/.lora_up/.alpha`), LyCORIS
// (`.hada_*`, `.lokr_*`, `.diff`), diffusers/peft (`unet.…`, `text_encoder.…`, `text_encoder_2.…` with
// `.lora_A/.lora_B`) and the older diffusers `.lora.down/.lora.up` and `processor.to_q_lora.down`.
import { basename } from 'node:path';
import { SafetensorsFile, type TensorInfo } from '../io/safetensors.ts';

export type LoraMethod = 'lora' | 'loha' | 'lokr' | 'diff';

/** Which part of the pipeline a layer adapts: the UNet or the text encoder at an index. */
export type LoraComponent = { kind: 'unet' } | { kind: 'text'; index: number };

export interface LoraLayer {
  /** The module's key in the file (without the tensor suffix), for messages. */
  key: string;
  component: LoraComponent;
  /** The module path inside its component, in the file's own spelling (dots, or underscores for kohya). */
  module: string;
  /** kohya names join module paths with underscores, so they are matched against a model's names. */
  underscored: boolean;
  method: LoraMethod;
  /** The method's tensors by role (`down`, `up`, `w1_a`, …). */
  tensors: Record<string, TensorInfo>;
  alpha?: number;
  /** DoRA's magnitude (`dora_scale`, peft's `lora_magnitude_vector`). */
  magnitude?: TensorInfo;
  /** A LyCORIS bias difference (`diff_b`). */
  biasDiff?: TensorInfo;
}

export interface LoraFile {
  path: string;
  name: string;
  layers: LoraLayer[];
  metadata: Record<string, string>;
  /** peft's alpha and rank from diffusers' `lora_adapter_metadata`, when the file carries them. */
  peftScale?: number;
}

export class LoraFileError extends Error {
  constructor(readonly file: string, message: string) {
    super(`LoRA ${file}: ${message}`);
    this.name = 'LoraFileError';
  }
}

// Tensor suffix → [method, role]. Longest suffixes first where one ends another.
const ROLES: [string, LoraMethod | 'any', string][] = [
  ['.lora_down.weight', 'lora', 'down'], ['.lora_up.weight', 'lora', 'up'],
  ['.lora_A.weight', 'lora', 'down'], ['.lora_B.weight', 'lora', 'up'],
  ['.lora.down.weight', 'lora', 'down'], ['.lora.up.weight', 'lora', 'up'],
  ['.lora_mid.weight', 'lora', 'mid'],
  ['.hada_w1_a', 'loha', 'w1_a'], ['.hada_w1_b', 'loha', 'w1_b'], ['.hada_w2_a', 'loha', 'w2_a'], ['.hada_w2_b', 'loha', 'w2_b'],
  ['.hada_t1', 'loha', 't1'], ['.hada_t2', 'loha', 't2'],
  ['.lokr_w1', 'lokr', 'w1'], ['.lokr_w1_a', 'lokr', 'w1_a'], ['.lokr_w1_b', 'lokr', 'w1_b'],
  ['.lokr_w2', 'lokr', 'w2'], ['.lokr_w2_a', 'lokr', 'w2_a'], ['.lokr_w2_b', 'lokr', 'w2_b'], ['.lokr_t2', 'lokr', 't2'],
  ['.diff', 'diff', 'diff'], ['.diff_b', 'any', 'bias'],
  ['.alpha', 'any', 'alpha'], ['.dora_scale', 'any', 'magnitude'],
  ['.lora_magnitude_vector.weight', 'any', 'magnitude'], ['.lora_magnitude_vector', 'any', 'magnitude'],
];

function splitKey(name: string): { module: string; method: LoraMethod | 'any'; role: string } | undefined {
  let best: [string, LoraMethod | 'any', string] | undefined;
  for (const r of ROLES) if (name.endsWith(r[0]) && (!best || r[0].length > best[0].length)) best = r;
  if (!best) return undefined;
  return { module: name.slice(0, -best[0].length), method: best[1], role: best[2] };
}

/** `unet.x`, `lora_unet_x`, `text_encoder_2.x`… → component and module path. */
function locate(module: string): { component: LoraComponent; module: string; underscored: boolean } | undefined {
  const kohya: [string, LoraComponent][] = [['lora_unet_', { kind: 'unet' }], ['lora_te1_', { kind: 'text', index: 0 }], ['lora_te2_', { kind: 'text', index: 1 }], ['lora_te_', { kind: 'text', index: 0 }]];
  for (const [prefix, component] of kohya) if (module.startsWith(prefix)) return { component, module: module.slice(prefix.length), underscored: true };
  const dotted: [string, LoraComponent][] = [['unet.', { kind: 'unet' }], ['text_encoder_2.', { kind: 'text', index: 1 }], ['text_encoder.', { kind: 'text', index: 0 }], ['transformer.', { kind: 'unet' }]];
  for (const [prefix, component] of dotted) if (module.startsWith(prefix)) return { component, module: module.slice(prefix.length), underscored: false };
  // Old diffusers UNet-only files have no prefix.
  if (/^(down_blocks|mid_block|up_blocks|conv_in|conv_out|time_embedding)\./.test(module)) return { component: { kind: 'unet' }, module, underscored: false };
  return undefined;
}

/** Old diffusers attention-processor names (`attn1.processor.to_q_lora`) → module names (`attn1.to_q`). */
function normaliseModule(module: string): string {
  return module.replace(/\.processor\.(to_q|to_k|to_v)_lora$/, '.$1').replace(/\.processor\.to_out_lora$/, '.to_out.0');
}

export function readLoraFile(path: string): LoraFile {
  let file: SafetensorsFile;
  try {
    file = SafetensorsFile.open(path);
  } catch (e) {
    throw new LoraFileError(path, `cannot be read as a .safetensors LoRA (${(e as Error).message}); re-download it or give another file`);
  }
  const groups = new Map<string, { method?: LoraMethod; tensors: Record<string, TensorInfo>; alpha?: TensorInfo; magnitude?: TensorInfo; bias?: TensorInfo }>();
  for (const name of file.keys()) {
    const split = splitKey(name);
    if (!split) continue;
    const module = normaliseModule(split.module);
    let g = groups.get(module);
    if (!g) groups.set(module, (g = { tensors: {} }));
    if (split.role === 'alpha') g.alpha = file.info(name);
    else if (split.role === 'magnitude') g.magnitude = file.info(name);
    else if (split.role === 'bias') g.bias = file.info(name);
    else {
      g.method = split.method as LoraMethod;
      g.tensors[split.role] = file.info(name);
    }
  }
  refuseTucker(path, groups);
  const layers: LoraLayer[] = [];
  for (const [key, g] of groups) {
    const where = locate(key);
    if (!where || (!g.method && !g.bias)) continue;
    const alpha = g.alpha ? file.readFloat32(g.alpha.name)[0] : undefined;
    layers.push({ key, ...where, method: g.method ?? 'diff', tensors: g.tensors, alpha, magnitude: g.magnitude, biasDiff: g.bias });
  }
  if (layers.length === 0) {
    const sample = file.keys().slice(0, 3).join(', ');
    throw new LoraFileError(path, `holds no LoRA layers this studio knows (kohya lora_unet_/lora_te_, diffusers/peft unet./text_encoder., LyCORIS hada_/lokr_); its first tensors: ${sample || 'none'}`);
  }
  return { path: file.path, name: basename(path).replace(/\.safetensors$/i, ''), layers, metadata: file.metadata, peftScale: peftScale(file.metadata) };
}

/** LyCORIS's Tucker form (`use_tucker`): a convolution's kernel in a core tensor between the low-rank factors. */
const TUCKER_ROLES: Record<string, string> = { mid: 'lora_mid', t1: 'hada_t1', t2: 'hada_t2 / lokr_t2' };

function refuseTucker(path: string, groups: Map<string, { tensors: Record<string, TensorInfo> }>): void {
  for (const [key, g] of groups) {
    const role = Object.keys(TUCKER_ROLES).find((r) => g.tensors[r]);
    if (!role) continue;
    throw new LoraFileError(
      path,
      `layer ${key} is a Tucker-decomposed convolution (${TUCKER_ROLES[role]}), which the studio does not merge. Supported: LoRA/LoCon (lora_down/lora_up), LoHa (hada_w1/hada_w2), LoKr (lokr_w1/lokr_w2), full diff and DoRA, without Tucker cores; re-train or re-extract it with LyCORIS's use_tucker=False`,
    );
  }
}

/** diffusers writes peft's `lora_alpha` and `r` into the metadata; without them the scale is 1. */
function peftScale(metadata: Record<string, string>): number | undefined {
  const raw = metadata.lora_adapter_metadata;
  if (!raw) return undefined;
  try {
    const all = JSON.parse(raw) as Record<string, { lora_alpha?: number; r?: number }>;
    const first = Object.values(all).find((v) => v && typeof v === 'object' && v.lora_alpha && v.r) ?? (all as { lora_alpha?: number; r?: number });
    return first.lora_alpha && first.r ? first.lora_alpha / first.r : undefined;
  } catch {
    return undefined;
  }
}
