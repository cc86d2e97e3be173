// IP-Adapter's CLIP image encoder (CLIPVisionModelWithProjection) as people have it: a folder (config.json +
// model.safetensors: h94/IP-Adapter's `models/image_encoder`, `sdxl_models/image_encoder`), a .safetensors with
// its config beside it, or ComfyUI's `clip_vision/*.safetensors` alone, whose config is read from the tensor
// shapes for the encoders IP-Adapters are trained with (OpenCLIP ViT-H/14 and ViT-bigG/14, OpenAI ViT-L/14:
// their head count and activation leave no trace in the weights, so they come from this table). Given
// nothing, `image_encoder/` beside the adapter is used.
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SafetensorsFile } from '../io/safetensors.ts';
import { clipVisionConfigFromHf, type ClipActivation, type ClipVisionConfig } from '../models/clip/config.ts';
import { IpAdapterFileError, stem, type IpAdapterSource } from './ip-adapter.ts';
import { readJsonObject } from './json-fields.ts';
import { indicesUnder, shapeOf, type KeyedSource } from './sources.ts';

export interface ImageEncoderSource {
  path: string;
  weights: KeyedSource;
  config: ClipVisionConfig;
}

/** Hidden width → heads and activation of the CLIP vision towers IP-Adapters use. */
const KNOWN_TOWERS: Record<number, { heads: number; act: ClipActivation; name: string }> = {
  1024: { heads: 16, act: 'quick_gelu', name: 'OpenAI ViT-L/14' },
  1280: { heads: 16, act: 'gelu', name: 'OpenCLIP ViT-H/14' },
  1664: { heads: 16, act: 'gelu', name: 'OpenCLIP ViT-bigG/14' },
};

/** The config of a CLIPVisionModelWithProjection read from its tensor shapes, or why it cannot be. */
export function inferClipVisionConfig(keys: readonly string[], shape: (name: string) => number[]): ClipVisionConfig | string {
  const prefix = keys.includes('vision_model.embeddings.class_embedding') ? 'vision_model.' : '';
  const [hidden, , patch] = shape(`${prefix}embeddings.patch_embedding.weight`);
  const tower = KNOWN_TOWERS[hidden];
  if (!tower) return `a ${hidden}-wide vision tower is none of ${Object.values(KNOWN_TOWERS).map((t) => t.name).join(', ')}, whose settings are known`;
  const positions = shape(`${prefix}embeddings.position_embedding.weight`)[0];
  return {
    hiddenSize: hidden,
    intermediateSize: shape(`${prefix}encoder.layers.0.mlp.fc1.weight`)[0],
    numLayers: indicesUnder(keys, `${prefix}encoder.layers.`).length,
    numHeads: tower.heads,
    hiddenAct: tower.act,
    layerNormEps: 1e-5,
    imageSize: Math.round(Math.sqrt(positions - 1)) * patch,
    patchSize: patch,
    projectionDim: shape('visual_projection.weight')[0],
  };
}

export function loadImageEncoderSource(given: string | undefined, adapter: string): ImageEncoderSource {
  const beside = join(dirname(adapter), 'image_encoder');
  const path = given ?? (existsSync(join(beside, 'config.json')) ? beside : undefined);
  if (!path) {
    throw new IpAdapterFileError('--ip-adapter', adapter, 'IP-Adapter needs the CLIP image encoder it was trained with: add --image-encoder DIR (a CLIPVisionModelWithProjection folder with config.json and model.safetensors, e.g. h94/IP-Adapter\'s models/image_encoder for SD 1.5, sdxl_models/image_encoder for SDXL, or ComfyUI\'s clip_vision file), or put that folder beside the adapter as image_encoder/');
  }
  const fail = (message: string) => new IpAdapterFileError('--image-encoder', path, message);
  if (!existsSync(path)) throw fail('no such file or folder');
  const folder = statSync(path).isDirectory();
  const weightsFile = folder ? join(path, 'model.safetensors') : path;
  if (!existsSync(weightsFile)) throw fail('no model.safetensors in this folder (only .safetensors weights are read for image encoders)');
  if (!/\.safetensors$/i.test(weightsFile)) throw fail('only .safetensors image encoders are read (pickle files can run code when loaded): convert it first');
  const weights = SafetensorsFile.open(weightsFile);
  const keys = weights.keys();
  if (!keys.some((k) => k.endsWith('embeddings.patch_embedding.weight'))) throw fail('this is not a CLIP vision model (no vision_model.embeddings.patch_embedding.weight)');
  if (!weights.has('visual_projection.weight')) throw fail('this CLIP vision model has no visual_projection: IP-Adapter needs a CLIPVisionModelWithProjection');
  const configFile = folder ? join(path, 'config.json') : [join(dirname(path), `${stem(path)}.json`), join(dirname(path), 'config.json')].find(existsSync);
  if (configFile && existsSync(configFile)) return { path, weights, config: clipVisionConfigFromHf(readJsonObject(configFile), configFile) };
  if (folder) throw fail('the image encoder folder needs its config.json (CLIPVisionModelWithProjection)');
  const config = inferClipVisionConfig(keys, (k) => [...weights.info(k).shape]);
  if (typeof config === 'string') throw fail(`no config.json beside it, and ${config}: put its config.json beside it`);
  return { path, weights, config };
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
