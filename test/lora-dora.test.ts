// DoRA: a LoRA with a magnitude vector merges as m · (W + w·ΔW) / ‖W + w·ΔW‖ (peft's definition), the norm
// per output row when m has one value per output, per input column otherwise. Checked against plain loops,
// through the same path a model's weights take (a patched source, merged, read by Weights.get).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Graph } from '../pipelines/onnx/graph.ts';
import { Weights } from '../pipelines/onnx/weights.ts';
import { SafetensorsFile, writeSafetensors } from '../pipelines/io/safetensors.ts';
import { PatchedSource } from '../pipelines/lora/apply.ts';
import { mergeLoraWeights } from '../pipelines/lora/merge.ts';
import type { PipelineSources } from '../pipelines/checkpoints/index.ts';
import { readLoraFile } from '../pipelines/lora/layers.ts';
import { runGraph } from './run-graph.ts';

const tmp = mkdtempSync(join(tmpdir(), 'studio-dora-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const OUT = 4;
const IN = 3;
const RANK = 2;
const seq = (n: number, f: (i: number) => number) => Float32Array.from({ length: n }, (_, i) => f(i));
const W = seq(OUT * IN, (i) => Math.sin(i + 1));
const DOWN = seq(RANK * IN, (i) => Math.cos(i * 0.7));
const UP = seq(OUT * RANK, (i) => 0.3 * Math.sin(i * 1.3 + 0.2));

function expected(weight: number, magnitude: Float32Array, perOutput: boolean): Float32Array {
  const merged = new Float32Array(OUT * IN);
  for (let o = 0; o < OUT; o++) for (let i = 0; i < IN; i++) {
    let d = 0;
    for (let r = 0; r < RANK; r++) d += UP[o * RANK + r] * DOWN[r * IN + i];
    merged[o * IN + i] = W[o * IN + i] + weight * d;
  }
  const out = new Float32Array(merged.length);
  for (let o = 0; o < OUT; o++) for (let i = 0; i < IN; i++) {
    let n = 0;
    if (perOutput) for (let k = 0; k < IN; k++) n += merged[o * IN + k] ** 2;
    else for (let k = 0; k < OUT; k++) n += merged[k * IN + i] ** 2;
    out[o * IN + i] = (magnitude[perOutput ? o : i] * merged[o * IN + i]) / Math.sqrt(n);
  }
  return out;
}

async function merged(weight: number, magnitude: Float32Array, key: string): Promise<Float32Array> {
  const model = join(tmp, 'model.safetensors');
  writeSafetensors(model, { 'layer.weight': { dtype: 'F32', shape: [OUT, IN], data: W } });
  const lora = join(tmp, `${key.replace(/\W/g, '_')}-${magnitude.length}.safetensors`);
  writeSafetensors(lora, {
    'unet.layer.lora_A.weight': { dtype: 'F32', shape: [RANK, IN], data: DOWN },
    'unet.layer.lora_B.weight': { dtype: 'F32', shape: [OUT, RANK], data: UP },
    [`unet.layer.${key}`]: { dtype: 'F32', shape: magnitude.length === OUT ? [OUT] : [1, IN], data: magnitude },
  });
  const source = new PatchedSource(SafetensorsFile.open(model));
  const [layer] = readLoraFile(lora).layers;
  source.add('layer.weight', { layer, weight, peftScale: 1 });
  const merged = await mergeLoraWeights({ unet: source, textEncoders: [] } as unknown as PipelineSources, tmp);
  after(() => merged?.release());
  const g = new Graph();
  g.output(new Weights(g, source, 'float32').get('layer.weight'), 'w');
  return (await runGraph(g, {})).w;
}

test('DoRA magnitudes (peft lora_magnitude_vector per output, LyCORIS dora_scale per input) merge as peft defines them', async () => {
  for (const [key, magnitude, perOutput] of [
    ['lora_magnitude_vector', seq(OUT, (i) => 1 + i * 0.25), true],
    ['dora_scale', seq(IN, (i) => 2 - i * 0.3), false],
  ] as const) {
    for (const weight of [1, 0.5]) {
      const got = await merged(weight, magnitude, key);
      const want = expected(weight, magnitude, perOutput);
      got.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-5, `${key} at ${weight}: [${i}] ${v} vs ${want[i]}`));
    }
  }
});
