// Helpers for the LoRA / textual-inversion / SD2 goldens made by test/fixtures/lora/make-goldens.py.
// Golden runs end in latents; images are compared after decoding both with this VAE.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixture, relL2 } from './fixtures.ts';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import type { SdPipeline, SdResult } from '../pipelines/recipes/sd/pipeline.ts';

export const LORA_FIXTURES = join(import.meta.dirname, 'fixtures', 'lora');
/** A models folder whose shared tokenizer is the fixtures' CLIP vocabulary (the SD 2.x single file has none). */
export function sharedTokenizerModelsDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'studio-sd2-'));
  mkdirSync(join(dir, 'tokenizers'));
  symlinkSync(fixture('tokenizer'), join(dir, 'tokenizers', 'clip'));
  return dir;
}

export const goldens = () => SafetensorsFile.open(join(LORA_FIXTURES, 'goldens.safetensors'));
export const runs = () => (JSON.parse(readFileSync(join(LORA_FIXTURES, 'goldens.json'), 'utf8')) as { runs: Record<string, { prompt: string; negative_prompt: string; num_inference_steps: number; guidance_scale: number; width: number; height: number; seed: number }> }).runs;

export async function generateLike(pipe: SdPipeline, name: string, prompt?: string): Promise<SdResult> {
  const run = runs()[name];
  return pipe.generate({ prompt: prompt ?? run.prompt, negative: run.negative_prompt, steps: run.num_inference_steps, cfg: run.guidance_scale, sampler: 'euler', seed: run.seed, width: run.width, height: run.height });
}

/** Mean absolute difference of two [0, 1] images, in 1/255 steps. */
export function meanAbs255(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(Math.round(a[i] * 255) - Math.round(b[i] * 255));
  return s / a.length;
}

/** The run's final latents match the golden's, and so does the image decoded from them (within 1/255). */
export async function expectGolden(pipe: SdPipeline, r: SdResult, name: string): Promise<void> {
  const golden = goldens().readFloat32(`${name}_latents`);
  const final = r.latentsPerStep.at(-1)!;
  const e = relL2(final, golden);
  assert.ok(e < 1e-3, `${name}: latents rel-L2 ${e}`);
  const h = r.height / 8;
  const w = r.width / 8;
  const decoded = await pipe.vae.decode({ data: golden, dims: [1, 4, h, w] });
  const nhwc = new Float32Array(r.images.length);
  const plane = r.width * r.height;
  for (let c = 0; c < 3; c++) for (let p = 0; p < plane; p++) nhwc[p * 3 + c] = Math.min(1, Math.max(0, decoded.data[c * plane + p] / 2 + 0.5));
  const d = meanAbs255(r.images, nhwc);
  assert.ok(d <= 1, `${name}: image differs by ${d.toFixed(3)}/255 on average`);
}


/** `a @ b` for row-major [n, k] and [k, m], with plain loops (an independent check of the merge). */
export function matmul(a: Float32Array, b: Float32Array, n: number, k: number, m: number): Float32Array {
  const out = new Float32Array(n * m);
  for (let i = 0; i < n; i++) for (let p = 0; p < k; p++) {
    const v = a[i * k + p];
    if (v !== 0) for (let j = 0; j < m; j++) out[i * m + j] += v * b[p * m + j];
  }
  return out;
}
