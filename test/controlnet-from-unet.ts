// A ControlNet made from a diffusers UNet folder the way diffusers' ControlNetModel.from_unet makes one
// (the encoder half's weights copied), with its conditioning embedding and zero convolutions filled with
// small seeded values so it steers: for families whose ControlNet graph has no diffusers golden here.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MappedSource, type KeyedSource } from '../pipelines/checkpoints/sources.ts';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../pipelines/io/safetensors.ts';
import type { TensorSource } from '../pipelines/onnx/weights.ts';
import { parseUNetConfig } from '../pipelines/models/unet/config.ts';
import { skipShapes } from '../pipelines/models/unet/encoder.ts';

const COPIED = ['conv_in.', 'time_embedding.', 'add_embedding.', 'down_blocks.', 'mid_block.'];
const EMBEDDING = [8, 8, 16, 16];

/** A tensor of a UNet source as float32: straight from its file, or through a renamed (single-file) view. */
function readFloat32(src: TensorSource, name: string): Float32Array {
  if (src instanceof SafetensorsFile) return src.readFloat32(name);
  if (src instanceof MappedSource) return readFloat32(src.inner, src.innerName(name)!);
  throw new Error(`${src.path}: cannot read ${name} from this kind of source`);
}

/** `raw`: the UNet's diffusers config; `unet`: its weights under diffusers names (a pipeline's `sources.unet`). */
export function controlNetFromUNet(raw: Record<string, unknown>, unet: KeyedSource, out: string, seed = 1): string {
  const cfg = parseUNetConfig(raw);
  const { up_block_types: _up, out_channels: _out, conv_out_kernel: _k, ...fields } = raw;
  void _up; void _out; void _k;
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'config.json'), JSON.stringify({ ...fields, _class_name: 'ControlNetModel', conditioning_embedding_out_channels: EMBEDDING, conditioning_channels: 3 }));

  const tensors: Record<string, TensorToWrite> = {};
  for (const k of unet.keys()) if (COPIED.some((p) => k.startsWith(p))) tensors[k] = { dtype: 'F32', shape: unet.info(k).shape, data: readFloat32(unet, k) };
  let s = seed >>> 0;
  const random = (shape: number[], std: number): TensorToWrite => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = (((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32) * 2 - 1) * std * Math.sqrt(3);
    return { dtype: 'F32', shape, data };
  };
  const conv = (name: string, cout: number, cin: number, k: number, std: number) => {
    tensors[`${name}.weight`] = random([cout, cin, k, k], std);
    tensors[`${name}.bias`] = random([cout], std / 4);
  };
  conv('controlnet_cond_embedding.conv_in', EMBEDDING[0], 3, 3, 0.3);
  for (let i = 0; i < EMBEDDING.length - 1; i++) {
    conv(`controlnet_cond_embedding.blocks.${2 * i}`, EMBEDDING[i], EMBEDDING[i], 3, 0.2);
    conv(`controlnet_cond_embedding.blocks.${2 * i + 1}`, EMBEDDING[i + 1], EMBEDDING[i], 3, 0.2);
  }
  conv('controlnet_cond_embedding.conv_out', cfg.blockOutChannels[0], EMBEDDING.at(-1)!, 3, 0.2);
  const shapes = skipShapes(cfg, 8, 8);
  shapes.down.forEach(([c], i) => conv(`controlnet_down_blocks.${i}`, c, c, 1, 0.3));
  conv('controlnet_mid_block', shapes.mid[0], shapes.mid[0], 1, 0.3);
  writeSafetensors(join(out, 'diffusion_pytorch_model.safetensors'), tensors);
  return out;
}
