// IP-Adapter files as people have them (h94/IP-Adapter's `ip-adapter_sd15.safetensors`, `.bin`, the Plus
// variants): `image_proj.*` (the projection of the image encoder's output to N text-like tokens) and
// `ip_adapter.<n>.to_k_ip/to_v_ip.weight` (one key/value pair per cross-attention layer, n = 1, 3, 5, …
// in diffusers' processor order). `.bin` files are read by the weights-only loader (no pickle code runs).
// Their CLIP image encoder is a separate folder (CLIPVisionModelWithProjection: config.json +
// model.safetensors), given with --image-encoder or found as `image_encoder/` beside the adapter.
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { SafetensorsFile } from '../io/safetensors.ts';
import { TorchPtFile } from '../io/torch-pt.ts';
import { clipVisionConfigFromHf, type ClipVisionConfig } from '../models/clip/config.ts';
import type { UNetConfig } from '../models/unet/config.ts';
import { crossAttentionWidths } from '../models/ip-adapter/layers.ts';
import { describeTextWidth, describeUNet } from './controlnet.ts';
import { readJsonObject } from './json-fields.ts';
import { indicesUnder, shapeOf, withoutPrefix, type KeyedSource } from './sources.ts';

export type ImageProjectionKind = 'base' | 'plus';

export interface IpAdapterSource {
  path: string;
  /** For messages and metadata: the file name without extension. */
  name: string;
  /** `image_proj.*` without the prefix. */
  projection: KeyedSource;
  /** `ip_adapter.*` without the prefix: `<n>.to_k_ip.weight`, `<n>.to_v_ip.weight`. */
  layers: KeyedSource;
  /** base: Linear + LayerNorm on the pooled image embedding; plus: the perceiver resampler on the penultimate hidden states. */
  kind: ImageProjectionKind;
  /** Image tokens added to every cross-attention. */
  tokens: number;
  /** The text width of the UNet it was made for. */
  crossDim: number;
}

export interface ImageEncoderSource {
  path: string;
  weights: KeyedSource;
  config: ClipVisionConfig;
}

export class IpAdapterFileError extends Error {
  constructor(flag: string, path: string, message: string) {
    super(`${flag} ${path}: ${message}`);
    this.name = 'IpAdapterFileError';
  }
}

const fail = (path: string, message: string) => new IpAdapterFileError('--ip-adapter', path, message);

export function loadIpAdapterSource(path: string): IpAdapterSource {
  if (!existsSync(path) || statSync(path).isDirectory()) throw fail(path, 'no such file (give the .safetensors or .bin file itself)');
  const ext = extname(path).toLowerCase();
  if (ext !== '.safetensors' && ext !== '.bin' && ext !== '.pt' && ext !== '.pth') throw fail(path, 'expected a .safetensors or .bin IP-Adapter file');
  const file = ext === '.safetensors' ? SafetensorsFile.open(path) : TorchPtFile.open(path);
  const projection = withoutPrefix(file, 'image_proj.');
  const layers = withoutPrefix(file, 'ip_adapter.');
  if (!projection.keys().length || !layers.keys().length) {
    throw fail(path, 'this is not an IP-Adapter (it needs image_proj.* and ip_adapter.* tensors)');
  }
  const first = layers.keys().find((k) => k.endsWith('.to_k_ip.weight'));
  if (!first) throw fail(path, 'no ip_adapter.<n>.to_k_ip.weight tensors: FaceID and other IP-Adapter variants are not supported');
  const crossDim = shapeOf(layers, first)[1];
  if (projection.has('proj.weight')) return { path, name: stem(path), projection, layers, kind: 'base', tokens: shapeOf(projection, 'proj.weight')[0] / crossDim, crossDim };
  if (projection.has('latents') && projection.has('proj_in.weight')) {
    return { path, name: stem(path), projection, layers, kind: 'plus', tokens: shapeOf(projection, 'latents')[1], crossDim };
  }
  throw fail(path, 'its image projection is neither IP-Adapter\'s (proj + norm) nor IP-Adapter Plus\'s resampler (latents, proj_in, layers): Full-face and FaceID adapters are not supported');
}

const stem = (path: string) => basename(path, extname(path));

/** Refuses an adapter made for another family (naming both) or for a UNet of other widths. */
export function checkIpAdapterFits(a: IpAdapterSource, unet: UNetConfig, model: string): void {
  const baseFamily = describeUNet(unet);
  if (a.crossDim !== unet.crossAttentionDim[0]) {
    const family = describeTextWidth(a.crossDim);
    throw fail(a.path, `this IP-Adapter is for ${family === baseFamily ? `a UNet with ${a.crossDim}-wide text` : family}, but the model ${model} is ${baseFamily}: use an IP-Adapter made for ${baseFamily}`);
  }
  const widths = crossAttentionWidths(unet);
  const ids = indicesUnder(a.layers.keys(), '').filter((n) => a.layers.has(`${n}.to_k_ip.weight`)).sort((x, y) => x - y);
  const mine = ids.map((n) => shapeOf(a.layers, `${n}.to_k_ip.weight`)[0]);
  const expected = widths.map((w) => w.channels);
  if (JSON.stringify(mine) !== JSON.stringify(expected) || ids.some((n, k) => n !== 2 * k + 1)) {
    throw fail(a.path, `its ${mine.length} cross-attention layers do not match the model ${model}'s ${expected.length} (${baseFamily}): use an IP-Adapter made for this model's family`);
  }
}

/**
 * The CLIP image encoder: a folder (config.json + model.safetensors, HF or diffusers layout), a
 * .safetensors file with its config.json beside it, or none given: `image_encoder/` beside the adapter.
 */
export function loadImageEncoderSource(given: string | undefined, adapter: string): ImageEncoderSource {
  const beside = join(dirname(adapter), 'image_encoder');
  const path = given ?? (existsSync(join(beside, 'config.json')) ? beside : undefined);
  if (!path) {
    throw new IpAdapterFileError('--ip-adapter', adapter, 'IP-Adapter needs the CLIP image encoder it was trained with: add --image-encoder DIR (a CLIPVisionModelWithProjection folder with config.json and model.safetensors, e.g. h94/IP-Adapter\'s models/image_encoder for SD 1.5, sdxl_models/image_encoder for SDXL), or put that folder beside the adapter as image_encoder/');
  }
  const encoderFail = (message: string) => new IpAdapterFileError('--image-encoder', path, message);
  if (!existsSync(path)) throw encoderFail('no such file or folder');
  const folder = statSync(path).isDirectory();
  const configFile = folder ? join(path, 'config.json') : [join(dirname(path), `${stem(path)}.json`), join(dirname(path), 'config.json')].find(existsSync);
  if (!configFile || !existsSync(configFile)) throw encoderFail('the image encoder needs its config.json (CLIPVisionModelWithProjection) beside its weights');
  const weightsFile = folder ? join(path, 'model.safetensors') : path;
  if (!existsSync(weightsFile)) throw encoderFail('no model.safetensors in this folder (only .safetensors weights are read for image encoders)');
  const weights = SafetensorsFile.open(weightsFile);
  if (!weights.keys().some((k) => k.endsWith('embeddings.patch_embedding.weight'))) throw encoderFail('this is not a CLIP vision model (no vision_model.embeddings.patch_embedding.weight)');
  if (!weights.has('visual_projection.weight')) throw encoderFail('this CLIP vision model has no visual_projection: IP-Adapter needs a CLIPVisionModelWithProjection');
  return { path, weights, config: clipVisionConfigFromHf(readJsonObject(configFile), configFile) };
}

/** Refuses an encoder whose output width does not fit the adapter's projection. */
export function checkImageEncoderFits(e: ImageEncoderSource, a: IpAdapterSource): void {
  const [want, has] = a.kind === 'base'
    ? [shapeOf(a.projection, 'proj.weight')[1], e.config.projectionDim]
    : [shapeOf(a.projection, 'proj_in.weight')[1], e.config.hiddenSize];
  if (want !== has) {
    throw new IpAdapterFileError('--image-encoder', e.path, `this image encoder gives ${has}-wide ${a.kind === 'base' ? 'image embeddings' : 'hidden states'}, but ${a.name} takes ${want}: use the image encoder the adapter was trained with`);
  }
}
