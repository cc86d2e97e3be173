// Head-level perturbation guidance through the SD pipeline on the tiny SD 1.x fixture: PAG's goldens
// through explicit head lists, u = 0 as plain CFG bit for bit, SoftPAG's strength as a smooth path,
// and diffusers' adaptive PAG scale.
//
// Sizes are 128² because at 64² the tiny UNet's innermost level is a single token, where GroupNorm
// over 2 channels per group turns any difference into ±1: the output is then not continuous in
// anything, head strength included.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fixture, relL2, skipWithoutFixtures as skip } from './fixtures.ts';
import { parsePythonJson } from '../pipelines/io/python-json.ts';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import { SdPipeline, type SdGenerateOptions, type SdResult } from '../pipelines/recipes/sd/pipeline.ts';
import { getSampler, type SchedulerConfig } from '../pipelines/samplers/index.ts';
import { adaptivePagScale } from '../pipelines/guidance/adaptive-scale.ts';
import { expandHeadSpec, parseHeadSpec } from '../pipelines/heads/spec.ts';
import { matchPagLayers } from '../pipelines/models/unet/layers.ts';

const rms = (a: Float32Array, b: Float32Array) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s / a.length);
};

test('adaptive PAG scale follows diffusers: max(0, s − a·(1000 − t))', () => {
  assert.equal(adaptivePagScale(3, 0, 1), 3);
  assert.equal(adaptivePagScale(3, 0.01, 1000), 3);
  assert.ok(Math.abs(adaptivePagScale(3, 0.01, 900) - 2) < 1e-12);
  assert.equal(adaptivePagScale(3, 0.01, 500), 0);
  assert.equal(adaptivePagScale(0, 0.01, 1000), 0);
  assert.throws(() => adaptivePagScale(3, -1, 500), /adaptive PAG scale -1 must be 0 or more/);
});

test('PAG goldens reproduced through explicit head lists (every head of the mid layer at u = 1)', { skip }, async (t) => {
  const json = <{ runs: Record<string, Record<string, unknown>> }>parsePythonJson(readFileSync(fixture('sd15-tiny-golden.json'), 'utf8'));
  const golden = SafetensorsFile.open(fixture('sd15-tiny-golden.safetensors'));
  const pipe = SdPipeline.load(fixture('sd15-tiny'));
  const seeds: Record<string, number> = { pag_cfg: 0, pag_only: 42 };
  for (const name of ['pag_cfg', 'pag_only']) {
    await t.test(name, async () => {
      const run = json.runs[name];
      const [mid] = matchPagLayers(pipe.layers, run.pag_applied_layers as string[]);
      const picks = expandHeadSpec(parseHeadSpec(`L${mid}:1`), pipe.layers);
      assert.equal(picks.length, pipe.layers[mid].heads);
      const r = await pipe.generate({
        prompt: run.prompt as string, negative: run.negative_prompt as string, steps: run.num_inference_steps as number,
        cfg: run.guidance_scale as number, sampler: 'ddim', seed: seeds[name], width: 128, height: 128,
        heads: { scale: run.pag_scale as number, picks },
      });
      r.latentsPerStep.forEach((l, i) => {
        const e = relL2(l, golden.readFloat32(`${name}_latents_step${i}`));
        assert.ok(e < 1e-3, `${name} step ${i}: rel-L2 ${e}`);
      });
    });
  }
  await pipe.release();
});

test('u = 0 on every head is plain guidance, bit for bit (with CFG and PAG-only)', { skip }, async () => {
  const pipe = SdPipeline.load(fixture('sd15-tiny'));
  const every = expandHeadSpec(parseHeadSpec(pipe.layers.map((l) => `L${l.index}:0`).join(',')), pipe.layers);
  for (const cfg of [5, 1]) {
    const base: SdGenerateOptions = { prompt: 'a red apple', negative: '', steps: 3, cfg, sampler: 'euler', seed: 7, width: 128, height: 128 };
    const plain = await pipe.generate(base);
    const zero = await pipe.generate({ ...base, heads: { scale: 3, picks: every } });
    assert.deepEqual(zero.latentsPerStep, plain.latentsPerStep, `cfg ${cfg}: latents`);
    assert.deepEqual(zero.images, plain.images, `cfg ${cfg}: image`);
    const pag = await pipe.generate({ ...base, heads: { scale: 3, picks: every.map((p) => ({ ...p, u: 1 })) } });
    assert.ok(rms(pag.images, plain.images) > 1e-3, `cfg ${cfg}: u = 1 must change the image`);
  }
  await pipe.release();
});

test('SoftPAG: the distance to u = 0 grows monotonically and continuously with u', { skip }, async () => {
  const pipe = SdPipeline.load(fixture('sd15-tiny'));
  const base: SdGenerateOptions = { prompt: 'a red apple', negative: '', steps: 2, cfg: 5, sampler: 'euler', seed: 7, width: 128, height: 128 };
  const heads = expandHeadSpec(parseHeadSpec('L3,L10H0,L10H5,L14'), pipe.layers);
  const at = async (u: number): Promise<SdResult> => pipe.generate({ ...base, heads: { scale: 3, picks: heads.map((h) => ({ ...h, u })) } });
  const zero = await at(0);
  const images = new Map<number, Float32Array>();
  const dist: number[] = [];
  for (let k = 1; k <= 10; k++) {
    const img = (await at(k / 10)).images;
    images.set(k / 10, img);
    dist.push(rms(img, zero.images));
  }
  for (let i = 1; i < dist.length; i++) assert.ok(dist[i] > dist[i - 1], `distance to u = 0 must grow: u = ${i / 10} gives ${dist[i - 1]}, u = ${(i + 1) / 10} gives ${dist[i]}`);
  // Continuity: a step of 0.01 in u moves the image about 1/100 of the whole path, never a jump.
  const slope = dist[9];
  for (const u of [0.3, 0.5, 0.8]) {
    const near = rms((await at(u - 0.01)).images, images.get(u)!) / 0.01;
    assert.ok(near > 0 && near < 2.5 * slope, `u = ${u}: a 0.01 step moves the image by ${near * 0.01}, against ${slope} over the whole path`);
  }
  await pipe.release();
});

test('adaptive scale through the pipeline: per-step scale from the real timestep; huge slope = plain CFG', { skip }, async () => {
  const pipe = SdPipeline.load(fixture('sd15-tiny'));
  const picks = expandHeadSpec(parseHeadSpec('L3,L12'), pipe.layers);
  const base: SdGenerateOptions = { prompt: 'a red apple', negative: '', steps: 2, cfg: 5, sampler: 'euler', seed: 7, width: 128, height: 128 };
  const scale = 3;
  const [t0, t1] = getSampler('euler').plan(pipe.sources.scheduler.config as SchedulerConfig, 2).timesteps;
  // Active at the first step, switched off at the second.
  const slope = (1.001 * scale) / (1000 - t1);
  const s0 = adaptivePagScale(scale, slope, t0);
  assert.ok(s0 > 0 && adaptivePagScale(scale, slope, t1) === 0, `timesteps ${t0}, ${t1} suit the test`);

  const adaptive = await pipe.generate({ ...base, heads: { scale, picks }, pagAdaptiveScale: slope });
  const constant = await pipe.generate({ ...base, heads: { scale: s0, picks } });
  assert.deepEqual(adaptive.latentsPerStep[0], constant.latentsPerStep[0]);
  assert.ok(rms(adaptive.latentsPerStep[1], constant.latentsPerStep[1]) > 1e-4, 'the second step must run without PAG');

  const plain = await pipe.generate(base);
  const off = await pipe.generate({ ...base, heads: { scale, picks }, pagAdaptiveScale: 1e6 });
  assert.deepEqual(off.images, plain.images);
  await pipe.release();
});
