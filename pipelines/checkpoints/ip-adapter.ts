// IP-Adapter files as people have them (h94/IP-Adapter's `ip-adapter_sd15.safetensors`, `.bin`, the Plus
// variants): `image_proj.*` (the projection of the image encoder's output to N text-like tokens) and
// `ip_adapter.<n>.to_k_ip/to_v_ip.weight` (one key/value pair per cross-attention layer, n = 1, 3, 5, …
// in diffusers' processor order). `.bin` files are read by the weights-only loader (no pickle code runs).
// Their CLIP image encoder is read by ./clip-vision.ts.
import { existsSync, statSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { SafetensorsFile } from '../io/safetensors.ts';
import { TorchPtFile } from '../io/torch-pt.ts';
import type { UNetConfig } from '../models/unet/config.ts';
import { crossAttentionWidths } from '../models/ip-adapter/layers.ts';
import { describeTextWidth, describeUNet } from './controlnet.ts';
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

export const stem = (path: string) => basename(path, extname(path));

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
