// LinFusion's SDXL HighRes and SuperRes against its own pipelines run on the sdxl-tiny fixture (goldens made by
// test/fixtures/hires-sdxl/make_goldens.py: HighRes 512×256 = a 128×64 base and 2 scales; SuperRes from that base
// image ×2 then ×2 again, the low-memory notebook's chain at 0.32 and 0.24; Euler 10 steps, CFG 7.5, seed 42,
// cosine scales 3/1/1, Gaussian σ 0.8), and the sizes they accept.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import { SdPipeline } from '../pipelines/recipes/sd/pipeline.ts';
import { drawHighres, highresStages } from '../pipelines/recipes/sdxl-hires/highres.ts';
import { drawSuperres, superresStages } from '../pipelines/recipes/sdxl-hires/superres.ts';
import { checkHighresSize } from '../pipelines/recipes/sdxl-hires/sizes.ts';
import type { DualBranchResult } from '../pipelines/recipes/sdxl-hires/run.ts';
import { fixture, relL2, skipWithoutFixtures } from './fixtures.ts';

const DIR = resolve(import.meta.dirname, 'fixtures/hires-sdxl');
const record = JSON.parse(readFileSync(join(DIR, 'sdxl-hires-golden.json'), 'utf8'));
const goldens = { highres: SafetensorsFile.open(join(DIR, 'sdxl-highres-golden.safetensors')), superres: SafetensorsFile.open(join(DIR, 'sdxl-superres-golden.safetensors')) };
const run = { prompt: record.prompt, negative: record.negative_prompt, steps: record.num_inference_steps, cfg: record.guidance_scale, seed: record.seed };
const parameters = { cosineScale1: record.loop.cosine_scale_1, cosineScale2: record.loop.cosine_scale_2, cosineScale3: record.loop.cosine_scale_3, gaussianSigma: record.loop.gaussian_sigma };
const NATIVE_LATENT = 16; // sdxl-tiny's UNet sample_size

const rgb = (file: SafetensorsFile, name: string) => {
  const [height, width] = file.info(name).shape;
  return { width, height, pixels: Uint8Array.from(file.readFloat32(name)) };
};

/** Every stage's step latents and decoded latents against the golden (rel-L2), and each stage's 8-bit image. */
function compare(kind: 'highres' | 'superres', r: DualBranchResult, images: Uint8Array[], tolerance: number): string[] {
  const golden = goldens[kind];
  const report: string[] = [];
  r.latentsPerStage.forEach((steps, s) => {
    let worst = 0;
    steps.forEach((latents, i) => {
      const err = relL2(latents, golden.readFloat32(`${kind}_stage${s}_latents_${i}`));
      worst = Math.max(worst, err);
      assert.ok(err < tolerance, `${kind} stage ${s} step ${i}: rel-L2 ${err}`);
    });
    assert.equal(golden.has(`${kind}_stage${s}_latents_${steps.length}`), false, `${kind} stage ${s} ran ${steps.length} steps, the reference more`);
    const expected = rgb(golden, `${kind}_stage${s}_image`);
    const ours = images[s];
    const diffs = ours.map((v, i) => Math.abs(v - expected.pixels[i]));
    const mean = diffs.reduce((a, d) => a + d, 0) / diffs.length;
    assert.ok(mean <= 1, `${kind} stage ${s} image: mean absolute difference ${mean} (8-bit levels)`);
    report.push(`stage ${s}: latents ≤ ${worst.toExponential(1)}, image mean |Δ| ${mean.toFixed(3)}, max ${diffs.reduce((a, d) => Math.max(a, d), 0)}`);
  });
  return report;
}

test("HighRes matches LinFusion's pipeline: the base and both scales, every step, every stage's image", { skip: skipWithoutFixtures }, async () => {
  const pipeline = SdPipeline.load(fixture('sdxl-tiny'));
  try {
    const sizes = checkHighresSize(record.highres.width, record.highres.height, NATIVE_LATENT);
    assert.ok(typeof sizes !== 'string', String(sizes));
    const stages = highresStages(sizes, run.steps, record.highres.upscale_strength);
    assert.deepEqual(stages.map((s) => [s.width, s.height, s.steps, s.dilation]), record.highres_stages.map((s: { size: number[]; steps: number }, i: number) => [...s.size, s.steps, i ? 2 ** i : undefined]));
    const images: Uint8Array[] = [];
    const r = await drawHighres(pipeline, run, sizes, { ...parameters, upscaleStrength: record.highres.upscale_strength }, { onStageDone: (_, image) => void images.push(image.pixels) });
    images.push(r.image.pixels);
    console.log(`HighRes vs LinFusion: ${compare('highres', r, images, 1e-3).join('; ')}`);
  } finally {
    await pipeline.release();
  }
});

test("SuperRes matches LinFusion's pipeline: one ×2 stage and the low-memory chain's next ×2, every step and image", { skip: skipWithoutFixtures }, async () => {
  const pipeline = SdPipeline.load(fixture('sdxl-tiny'));
  try {
    const input = rgb(goldens.highres, 'highres_stage0_image');
    const stages = superresStages(input, 512, 256, { steps: run.steps, nativeLatent: NATIVE_LATENT, upscaleStrength: 0.32 });
    assert.ok(Array.isArray(stages), String(stages));
    assert.deepEqual(stages.map((s) => [s.width, s.height, s.strength, s.steps, s.dilation]), [[256, 128, 0.32, 4, 2], [512, 256, 0.24, 3, 4]]);
    const images: Uint8Array[] = [];
    const r = await drawSuperres(pipeline, run, input, stages, parameters, { onStageDone: (_, image) => void images.push(image.pixels) });
    images.push(r.image.pixels);
    console.log(`SuperRes vs LinFusion: ${compare('superres', r, images, 1e-3).join('; ')}`);
  } finally {
    await pipeline.release();
  }
});
