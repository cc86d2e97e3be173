// Random weights streamed into a safetensors file chunk by chunk: a 1.7 GB file is written with a few
// megabytes of memory. Deterministic (xorshift32), so two runs write the same bytes.
import { mkdirSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { UNetConfig } from '../../pipelines/models/unet/config.ts';
import { f32ToF16, SafetensorsWriter } from '../../pipelines/io/safetensors.ts';
import { linfusionModules, unetTensorSpecs, type TensorSpec } from './unet-tensors.ts';

const CHUNK = 1 << 20;

/** Uniform numbers in [-bound, bound). */
export class Uniform {
  private s: number;

  constructor(seed: number) {
    this.s = seed >>> 0 || 1;
  }

  fill(out: Float32Array, bound: number): Float32Array {
    let s = this.s;
    const k = bound / 2 ** 31;
    for (let i = 0; i < out.length; i++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      out[i] = (s >>> 0) * k - bound;
    }
    this.s = s;
    return out;
  }
}

const count = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

export function safetensorsBytes(specs: readonly TensorSpec[], dtype: 'F16' | 'F32'): number {
  return specs.reduce((a, t) => a + count(t.shape) * (dtype === 'F16' ? 2 : 4), 0);
}

/** Throws unless the folder's file system has `bytes` plus a margin free. */
export function requireFreeDisk(dir: string, bytes: number): void {
  const fs = statfsSync(dir);
  const free = fs.bavail * fs.bsize;
  const needed = bytes * 1.1 + 256e6;
  if (free < needed) {
    throw new Error(`${dir}: ${(free / 1e9).toFixed(2)} GB free but the random weights need ${(needed / 1e9).toFixed(2)} GB; free some space or pass --tmp DIR on a larger disk`);
  }
}

export function writeRandomSafetensors(path: string, specs: readonly TensorSpec[], dtype: 'F16' | 'F32', seed: number): void {
  const writer = new SafetensorsWriter(path, specs.map((t) => ({ name: t.name, dtype, shape: [...t.shape] })), { format: 'pt', note: 'random weights for bench/' });
  const rand = new Uniform(seed);
  const chunk = new Float32Array(CHUNK);
  for (const t of specs) {
    for (let left = count(t.shape); left > 0; left -= CHUNK) {
      const part = chunk.subarray(0, Math.min(CHUNK, left));
      if (t.init.kind === 'uniform') rand.fill(part, t.init.bound);
      else part.fill(t.init.kind === 'ones' ? 1 : 0);
      writer.write(t.name, dtype === 'F16' ? f32ToF16(part) : part);
    }
  }
  writer.finish();
}

/**
 * A UNet's random weights and LinFusion modules for it, written into `dir`: `unet.safetensors` and the `linfusion`
 * folder (its weights and config.json), as LinFusionModules.load reads it.
 */
export function writeRandomUNetWithLinFusion(dir: string, cfg: UNetConfig, dtype: 'F16' | 'F32', seed: number): { unet: string; linfusion: string } {
  const unet = join(dir, 'unet.safetensors');
  writeRandomSafetensors(unet, unetTensorSpecs(cfg), dtype, seed);
  return { unet, linfusion: writeRandomLinFusion(join(dir, 'linfusion'), cfg, dtype, seed + 1) };
}

/** Random LinFusion modules for `cfg`'s UNet as LinFusionModules.load reads them: `dir` with its weights and config.json. */
export function writeRandomLinFusion(dir: string, cfg: UNetConfig, dtype: 'F16' | 'F32', seed: number): string {
  const lf = linfusionModules(cfg);
  mkdirSync(dir, { recursive: true });
  writeRandomSafetensors(join(dir, 'diffusion_pytorch_model.safetensors'), lf.specs, dtype, seed);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(lf.config));
  return dir;
}
