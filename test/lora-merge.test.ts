// LoRAs are merged in the weight loader, not in the graph: the UNet graph built with a LoRA has exactly the
// base graph's nodes and reads no LoRA file, and each changed initializer (in the load's merged weight file)
// equals W + w·(alpha/rank)·up @ down computed here with plain loops. Merged weights keep the model's dtype,
// and the merged file goes away with the model.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fixture, skipWithoutFixtures } from './fixtures.ts';
import { LORA_FIXTURES, matmul } from './lora-helpers.ts';
import { f32ToF16, SafetensorsFile, writeSafetensors } from '../pipelines/io/safetensors.ts';
import { f32ToBf16 } from '../pipelines/io/float16.ts';
import { applyLoras, PatchedSource } from '../pipelines/lora/apply.ts';
import { mergeLoraWeights } from '../pipelines/lora/merge.ts';
import { readLoraFile } from '../pipelines/lora/layers.ts';
import { loadPipelineSources } from '../pipelines/checkpoints/load.ts';
import { buildUNet } from '../pipelines/models/unet/unet.ts';
import { parseUNetConfig } from '../pipelines/models/unet/config.ts';
import { SdPipeline } from '../pipelines/recipes/sd/pipeline.ts';
import type { PipelineSources } from '../pipelines/checkpoints/index.ts';

const tmp = mkdtempSync(join(tmpdir(), 'studio-lora-merge-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const KOHYA = join(LORA_FIXTURES, 'sd15-kohya-locon.safetensors');
const WEIGHT = 0.8;

/** W + weight · alpha/rank · up @ down for one kohya layer, with plain loops over the files' own tensors. */
function expectedMerge(model: SafetensorsFile, name: string, lora: SafetensorsFile): Float32Array {
  const key = `lora_unet_${name.slice(0, -'.weight'.length).replace(/\./g, '_')}`;
  const down = lora.info(`${key}.lora_down.weight`).shape;
  const up = lora.info(`${key}.lora_up.weight`).shape;
  const rank = down[0];
  const inner = down.slice(1).reduce((a, b) => a * b, 1);
  const delta = matmul(lora.readFloat32(`${key}.lora_up.weight`), lora.readFloat32(`${key}.lora_down.weight`), up[0], rank, inner);
  const scale = WEIGHT * lora.readFloat32(`${key}.alpha`)[0] / rank;
  return model.readFloat32(name).map((w, i) => w + scale * delta[i]);
}

test('a LoRA changes initializers, not the graph: same nodes as the base UNet, no LoRA file read, merged weights equal W + w·ΔW', { skip: skipWithoutFixtures }, async () => {
  const base = loadPipelineSources(fixture('sd15-tiny'));
  const cfg = parseUNetConfig(base.unetConfig, 'sd15-tiny');
  const shape = { batch: 2, height: 8, width: 8 };
  const plain = buildUNet(base.unet, cfg, shape).graph.summary();

  const { sources } = applyLoras(base, [{ path: KOHYA, weight: WEIGHT }]);
  const merged = await mergeLoraWeights(sources, tmp);
  assert.ok(merged);
  try {
    const unet = sources.unet as PatchedSource;
    const changed = [...unet.contributions.keys()];
    assert.ok(changed.some((n) => /conv[12]\.weight$/.test(n)) && changed.some((n) => /attn1\.to_q\.weight$/.test(n)), 'the fixture changes LoCon convolutions and attention projections');
    const withLora = buildUNet(sources.unet, cfg, shape).graph.summary();
    assert.deepEqual(withLora.ops, plain.ops, 'the same operators, as many of each');
    assert.equal(withLora.nodes, plain.nodes);
    const mergedFile = unet.info(changed[0]).file;
    assert.equal(dirname(mergedFile), merged.dir);
    assert.deepEqual(new Set(withLora.externalFiles), new Set([...plain.externalFiles, mergedFile]), 'weights come from the model and the merged file, none from the LoRA file');

    const model = SafetensorsFile.open(base.unet.info(changed[0]).file);
    const lora = SafetensorsFile.open(KOHYA);
    const out = SafetensorsFile.open(mergedFile);
    for (const name of [changed.find((n) => /conv1\.weight$/.test(n))!, changed.find((n) => /attn1\.to_q\.weight$/.test(n))!]) {
      const want = expectedMerge(model, name, lora);
      const got = out.readFloat32(name);
      assert.equal(out.info(name).dtype, 'F32', 'stored in the model\'s dtype');
      let worst = 0;
      let moved = 0;
      const before = model.readFloat32(name);
      got.forEach((v, i) => {
        worst = Math.max(worst, Math.abs(v - want[i]));
        moved = Math.max(moved, Math.abs(v - before[i]));
      });
      assert.ok(worst < 1e-6, `${name}: merged differs from W + w·ΔW by ${worst}`);
      assert.ok(moved > 1e-3, `${name}: the LoRA changes the weight (by ${moved})`);
    }
  } finally {
    merged.release();
  }
  assert.ok(!existsSync(merged.dir), 'release() removes the merged file');
});

test('merged weights are stored in the model\'s dtype (float16, bfloat16), rounded once from the float32 merge', async () => {
  const W = Float32Array.from({ length: 12 }, (_, i) => Math.sin(i + 1));
  const down = Float32Array.from({ length: 6 }, (_, i) => Math.cos(i * 0.7));
  const up = Float32Array.from({ length: 8 }, (_, i) => 0.3 * Math.sin(i * 1.3 + 0.2));
  const delta = matmul(up, down, 4, 2, 3);
  const model = join(tmp, 'half.safetensors');
  writeSafetensors(model, { 'a.weight': { dtype: 'F16', shape: [4, 3], data: f32ToF16(W) }, 'b.weight': { dtype: 'BF16', shape: [4, 3], data: f32ToBf16(W) } });
  const lora = join(tmp, 'half-lora.safetensors');
  const layer = (m: string) => ({
    [`unet.${m}.lora_A.weight`]: { dtype: 'F32' as const, shape: [2, 3], data: down },
    [`unet.${m}.lora_B.weight`]: { dtype: 'F32' as const, shape: [4, 2], data: up },
  });
  writeSafetensors(lora, { ...layer('a'), ...layer('b') });
  const stored = SafetensorsFile.open(model);
  const source = new PatchedSource(stored);
  for (const l of readLoraFile(lora).layers) source.add(`${l.module}.weight`, { layer: l, weight: 0.5, peftScale: 1 });
  const merged = await mergeLoraWeights({ unet: source, textEncoders: [] } as unknown as PipelineSources, tmp);
  try {
    const out = SafetensorsFile.open(source.info('a.weight').file);
    // The merge starts from the stored (rounded) W and is rounded once: within half a unit in the last place.
    for (const [name, dtype, ulp] of [['a.weight', 'F16', 2 ** -11], ['b.weight', 'BF16', 2 ** -8]] as const) {
      assert.equal(out.info(name).dtype, dtype);
      const want = stored.readFloat32(name).map((w, i) => w + 0.5 * delta[i]);
      out.readFloat32(name).forEach((v, i) => assert.ok(Math.abs(v - want[i]) <= Math.abs(want[i]) * ulp, `${dtype} [${i}] ${v} vs ${want[i]}`));
    }
  } finally {
    merged?.release();
  }
});

test('SdPipeline.open merges when the model loads, and release() removes the merged weights', { skip: skipWithoutFixtures }, async () => {
  const pipe = await SdPipeline.open(fixture('sd15-tiny'), { loras: [{ path: KOHYA, weight: WEIGHT }] });
  const unet = pipe.sources.unet as PatchedSource;
  const dir = dirname(unet.info([...unet.contributions.keys()][0]).file);
  assert.ok(existsSync(dir));
  await pipe.release();
  assert.ok(!existsSync(dir), `${dir} is removed with the model`);
});
