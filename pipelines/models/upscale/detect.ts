// Which super-resolution network an upscaler file holds, read from its tensor names and shapes: ESRGAN's
// RRDBNet (BasicSR names, or the original ESRGAN `model.N` names), Real-ESRGAN's ×2/×1 RRDBNets (pixel
// unshuffle in front, seen as 12/48 input channels) and the compact SRVGG. Everything else is refused
// with what the file looks like and what is read.
import { basename } from 'node:path';
import { SafetensorsFile } from '../../io/safetensors.ts';
import { TorchPtFile } from '../../io/torch-pt.ts';
import { RenamedSource, type TensorSource } from '../../onnx/weights.ts';

export interface RrdbArchitecture {
  kind: 'rrdb';
  /** Output pixels per input pixel. */
  scale: number;
  features: number;
  growth: number;
  blocks: number;
  /** Pixel-unshuffle factor in front (Real-ESRGAN ×2: 2, ×1: 4). */
  unshuffle: number;
  /** Nearest ×2 upsampling convs (conv_up1 …). */
  upsamplings: number;
}

export interface SrvggArchitecture {
  kind: 'srvgg';
  scale: number;
  features: number;
  /** 3×3 convs between the first and the last. */
  convs: number;
}

export interface SwinirArchitecture {
  kind: 'swinir';
  scale: number;
  embedDim: number;
  /** Residual Swin transformer blocks: Swin blocks in each, attention heads. */
  layers: { depth: number; heads: number }[];
  window: number;
  patchNorm: boolean;
  residualConv: '1conv' | '3conv';
  /** Classic SR (pixel shuffle ×2 per doubling, or one ×3) or real-world SR (nearest ×2 and a conv, ×2 or ×4). */
  upsampler: 'pixelshuffle' | 'nearest+conv';
  /** Channels before the upsampler (conv_before_upsample). */
  features: number;
}

export type UpscalerArchitecture = RrdbArchitecture | SrvggArchitecture | SwinirArchitecture;

export interface UpscalerWeights {
  file: string;
  /** The file's name without extension (what metadata calls the upscaler). */
  name: string;
  architecture: UpscalerArchitecture;
  /** Weights under BasicSR's names (RRDBNet: conv_first, body.N.rdbK.convJ, conv_body, conv_upK, conv_hr, conv_last; SRVGG: body.N). */
  weights: TensorSource;
}

export class UpscalerFormatError extends Error {
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'UpscalerFormatError';
  }
}

const READ = 'the studio reads ESRGAN / Real-ESRGAN RRDBNet, Real-ESRGAN compact (SRVGG) and SwinIR (classic and real-world SR) upscalers, as .pth or .safetensors';

function openFile(file: string): SafetensorsFile | TorchPtFile {
  if (/\.safetensors$/i.test(file)) return SafetensorsFile.open(file);
  if (/\.(pth|pt|ckpt)$/i.test(file)) return TorchPtFile.open(file);
  throw new UpscalerFormatError(file, `not a .pth or .safetensors file: ${READ}`);
}

const count = (keys: string[], pattern: RegExp) => new Set(keys.map((k) => pattern.exec(k)?.[1]).filter((v) => v !== undefined)).size;

/** RRDBNet from BasicSR-named weights (also the renamed original ESRGAN ones). */
function rrdb(file: string, source: TensorSource, keys: string[]): RrdbArchitecture {
  const first = source.info('conv_first.weight').shape;
  const unshuffle = Math.round(Math.sqrt(first[1] / 3));
  if (3 * unshuffle * unshuffle !== first[1]) throw new UpscalerFormatError(file, `conv_first takes ${first[1]} channels: not 3, 12 or 48 (an RGB image, pixel-unshuffled by 1, 2 or 4)`);
  const upsamplings = count(keys, /^conv_up(\d+)\.weight$/);
  const scale = 2 ** upsamplings / unshuffle;
  if (scale < 1) throw new UpscalerFormatError(file, `${upsamplings} upsampling convs after a pixel unshuffle by ${unshuffle}: it would shrink the image`);
  return { kind: 'rrdb', scale, features: first[0], growth: source.info('body.0.rdb1.conv1.weight').shape[0], blocks: count(keys, /^body\.(\d+)\.rdb1\.conv1\.weight$/), unshuffle, upsamplings };
}

/**
 * The original ESRGAN names under BasicSR's: model.0 first conv, model.1.sub.N.RDBk.convj.0 blocks,
 * model.1.sub.<last> trunk conv, then the upsampling convs, the HR conv and the last conv (model.3, 6, 8, 10 at ×4).
 */
function esrganRenamed(source: SafetensorsFile | TorchPtFile, keys: string[]): { weights: RenamedSource; keys: string[] } {
  const blocks = count(keys, /^model\.1\.sub\.(\d+)\.RDB1\.conv1\.0\.weight$/);
  const tail = [...new Set(keys.map((k) => /^model\.(\d+)\.weight$/.exec(k)?.[1]).filter((v) => v !== undefined).map(Number))].filter((i) => i >= 2).sort((a, b) => a - b);
  const layers = new Map<string, string>([['conv_first', 'model.0'], ['conv_body', `model.1.sub.${blocks}`]]);
  tail.slice(0, -2).forEach((index, k) => layers.set(`conv_up${k + 1}`, `model.${index}`));
  layers.set('conv_hr', `model.${tail.at(-2)}`);
  layers.set('conv_last', `model.${tail.at(-1)}`);
  const original = new Map<string, string>();
  for (const [basicsr, esrgan] of layers) for (const p of ['weight', 'bias']) original.set(`${basicsr}.${p}`, `${esrgan}.${p}`);
  for (const k of keys) {
    const block = /^model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)$/.exec(k);
    if (block) original.set(`body.${block[1]}.rdb${block[2]}.conv${block[3]}.${block[4]}`, k);
  }
  const names = [...original].filter(([, k]) => source.has(k)).map(([name]) => name);
  return { weights: new RenamedSource(source, (name) => original.get(name)), keys: names };
}

function srvgg(file: string, source: TensorSource, keys: string[]): SrvggArchitecture {
  const convs = keys.filter((k) => /^body\.\d+\.weight$/.test(k) && source.info(k).shape.length === 4).map((k) => Number(k.split('.')[1])).sort((a, b) => a - b);
  const prelus = keys.filter((k) => /^body\.\d+\.weight$/.test(k) && source.info(k).shape.length === 1).length;
  if (prelus !== convs.length - 1 || convs.some((index, i) => index !== 2 * i)) {
    throw new UpscalerFormatError(file, 'an SRVGG body without a PReLU between every two convs (ReLU / LeakyReLU variants leave no trace in the weights, so which one is unknown): only the PReLU models are read');
  }
  const features = source.info('body.0.weight').shape[0];
  const out = source.info(`body.${convs.at(-1)}.weight`).shape[0];
  const scale = Math.round(Math.sqrt(out / 3));
  if (3 * scale * scale !== out) throw new UpscalerFormatError(file, `the last conv has ${out} channels, not 3·scale²`);
  return { kind: 'srvgg', scale, features, convs: convs.length - 2 };
}

/** SwinIR's hyper-parameters from its tensor names and shapes (`layers.N.residual_group.blocks.M.…`). */
function swinirArchitecture(file: string, source: TensorSource, keys: string[]): SwinirArchitecture {
  if (keys.some((k) => k.includes('logit_scale') || k.includes('cpb_mlp'))) throw new UpscalerFormatError(file, `a Swin2SR upscaler (scaled cosine attention): not supported (${READ})`);
  const shape = (k: string) => source.info(k).shape;
  const needed = ['conv_first.weight', 'layers.0.residual_group.blocks.0.attn.relative_position_bias_table'].filter((k) => !source.has(k));
  if (needed.length) throw new UpscalerFormatError(file, `a SwinIR-like file without ${needed.join(' and ')}: incomplete or another transformer upscaler (${READ})`);
  const [embedDim, inChannels] = shape('conv_first.weight');
  if (inChannels !== 3) throw new UpscalerFormatError(file, `a SwinIR for ${inChannels}-channel images: only RGB models are read`);
  if (!source.has('conv_before_upsample.0.weight')) {
    const what = source.has('upsample.0.weight') ? 'a lightweight SwinIR (pixelshuffledirect upsampler): not supported' : 'a SwinIR restoration model without an upsampler (denoising or JPEG artifact removal), not an upscaler';
    throw new UpscalerFormatError(file, `${what} (${READ})`);
  }
  const layerCount = count(keys, /^layers\.(\d+)\.residual_group\./);
  const layers = Array.from({ length: layerCount }, (_, n) => ({
    depth: count(keys, new RegExp(`^layers\\.${n}\\.residual_group\\.blocks\\.(\\d+)\\.`)),
    heads: shape(`layers.${n}.residual_group.blocks.0.attn.relative_position_bias_table`)[1],
  }));
  const window = (Math.sqrt(shape('layers.0.residual_group.blocks.0.attn.relative_position_bias_table')[0]) + 1) / 2;
  const features = shape('conv_before_upsample.0.weight')[0];
  const nearest = source.has('conv_up1.weight');
  const ups = keys.filter((k) => /^upsample\.\d+\.weight$/.test(k)).length;
  const scale = nearest ? (source.has('conv_up2.weight') ? 4 : 2) : shape('upsample.0.weight')[0] === 9 * features ? 3 : 2 ** ups;
  if (!nearest && !ups) throw new UpscalerFormatError(file, `a SwinIR with conv_before_upsample but neither upsample.N nor conv_up1 convs: unknown upsampler (${READ})`);
  return {
    kind: 'swinir', scale, embedDim, layers, window, features,
    patchNorm: source.has('patch_embed.norm.weight'),
    residualConv: source.has('layers.0.conv.weight') ? '1conv' : '3conv',
    upsampler: nearest ? 'nearest+conv' : 'pixelshuffle',
  };
}

/** Opens an upscaler file and names its architecture and scale. */
export function openUpscaler(file: string): UpscalerWeights {
  const source = openFile(file);
  const keys = source.keys();
  const name = basename(file).replace(/\.[^.]+$/, '');
  const has = (k: string) => source.has(k);
  if (has('conv_first.weight') && has('body.0.rdb1.conv1.weight')) return { file, name, architecture: rrdb(file, source, keys), weights: source };
  if (has('model.0.weight') && has('model.1.sub.0.RDB1.conv1.0.weight')) {
    const renamed = esrganRenamed(source, keys);
    return { file, name, architecture: rrdb(file, renamed.weights, renamed.keys), weights: renamed.weights };
  }
  if (has('body.0.weight') && source.info('body.0.weight').shape.length === 4 && has('body.1.weight')) return { file, name, architecture: srvgg(file, source, keys), weights: source };
  if (keys.some((k) => k.includes('residual_group') || k.includes('relative_position_bias_table'))) return { file, name, architecture: swinirArchitecture(file, source, keys), weights: source };
  if (keys.some((k) => /^(model\.diffusion_model|unet|first_stage_model)\./.test(k))) {
    throw new UpscalerFormatError(file, `a diffusion checkpoint, not an upscaler (${READ})`);
  }
  throw new UpscalerFormatError(file, `unknown upscaler layout (first tensors: ${keys.slice(0, 4).join(', ')}): ${READ}`);
}
