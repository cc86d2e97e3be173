// LinFusion's SDXL HighRes and SuperRes against its own pipelines run on the sdxl-tiny fixture (goldens made by
// test/fixtures/hires-sdxl/make_goldens.py: HighRes 512×256 = a 128×64 base and 2 scales; SuperRes from that base
// image ×2 then ×2 again, the low-memory notebook's chain at 0.32 and 0.24; Euler 10 steps, CFG 7.5, seed 42,
// cosine scales 3/1/1, Gaussian σ 0.8), and the sizes they accept.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { superresCommand, superresGenerateArgs } from '../app/cli/superres-command.ts';
import { GenerateRequestSchema, type GenerateProgress } from '../pipelines/jobs/api.ts';
import { a1111Parameters, decodeStudioMetadata, encodeStudioMetadata, studioMetadata } from '../pipelines/metadata/index.ts';
import { runGenerate } from '../pipelines/recipes/generate.ts';
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

// One pipeline for both parity tests: SuperRes's stages run at HighRes's stage shapes, so its sessions are reused.
let shared: SdPipeline | undefined;
const tinySdxl = () => (shared ??= SdPipeline.load(fixture('sdxl-tiny')));
after(() => shared?.release());

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
  const pipeline = tinySdxl();
  const sizes = checkHighresSize(record.highres.width, record.highres.height, NATIVE_LATENT);
  assert.ok(typeof sizes !== 'string', String(sizes));
  const stages = highresStages(sizes, run.steps, record.highres.upscale_strength);
  assert.deepEqual(stages.map((s) => [s.width, s.height, s.steps, s.dilation]), record.highres_stages.map((s: { size: number[]; steps: number }, i: number) => [...s.size, s.steps, i ? 2 ** i : undefined]));
  const images: Uint8Array[] = [];
  const r = await drawHighres(pipeline, run, sizes, { ...parameters, upscaleStrength: record.highres.upscale_strength }, { onStageDone: (_, image) => void images.push(image.pixels) });
  images.push(r.image.pixels);
  console.log(`HighRes vs LinFusion: ${compare('highres', r, images, 1e-3).join('; ')}`);
});

test("SuperRes matches LinFusion's pipeline: one ×2 stage and the low-memory chain's next ×2 (its UNet split into sessions, rows one at a time), every step and image", { skip: skipWithoutFixtures }, async () => {
  const pipeline = tinySdxl();
  const input = rgb(goldens.highres, 'highres_stage0_image');
  const stages = superresStages(input, 512, 256, { steps: run.steps, nativeLatent: NATIVE_LATENT, upscaleStrength: 0.32 });
  assert.ok(Array.isArray(stages), String(stages));
  assert.deepEqual(stages.map((s) => [s.width, s.height, s.strength, s.steps, s.dilation]), [[256, 128, 0.32, 4, 2], [512, 256, 0.24, 3, 4]]);
  const images: Uint8Array[] = [];
  // The memory plan's choices reach both branches' UNet (the dilated one too) and leave the result as it was.
  const memory = [undefined, { unet: { ffPieces: 2, attentionPieces: 2, split: true, rowByRow: true } }];
  const r = await drawSuperres(pipeline, { ...run, memory }, input, stages, parameters, { onStageDone: (_, image) => void images.push(image.pixels) });
  images.push(r.image.pixels);
  console.log(`SuperRes vs LinFusion: ${compare('superres', r, images, 1e-3).join('; ')}`);
});

/** The HighRes base image (128×64) as a PNG file in a fresh folder. */
async function baseImageFile(): Promise<{ dir: string; file: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'studio-sdxl-hires-'));
  const { width, height, pixels } = rgb(goldens.highres, 'highres_stage0_image');
  const file = join(dir, 'base.png');
  await sharp(pixels, { raw: { width, height, channels: 3 } }).png().toFile(file);
  return { dir, file };
}

test('bad input: sizes off the 64 grid or not HighRes sizes name the nearest valid ones; highres on SD 1.x, other samplers, SuperRes without an image', { skip: skipWithoutFixtures }, async () => {
  const side = GenerateRequestSchema.safeParse({ prompt: 'x', hires: { width: 2000, height: 1024, mode: 'highres' } });
  assert.match(JSON.stringify(side.error?.issues), /multiple of 64.*nearest 1984 or 2048/);
  const ok = checkHighresSize(2048, 1024, 128);
  assert.deepEqual(typeof ok === 'string' ? ok : [ok.base, ok.scales], [{ width: 1024, height: 512 }, 1]);
  assert.match(String(checkHighresSize(3008, 2048, 128)), /--hires 3008x2048 is not a base with long side 1024 doubled per scale.*nearest sizes of this shape 2048x1408 or 4096x2816/);
  assert.match(String(checkHighresSize(1024, 1024, 128)), /is not above this model's native 1024 px.*nearest sizes of this shape 2048x2048/);
  assert.match(JSON.stringify(GenerateRequestSchema.safeParse({ prompt: 'x', hires: { width: 256, height: 128, mode: 'superres' } }).error?.issues), /is needed by --hires-mode superres/);
  assert.match(JSON.stringify(GenerateRequestSchema.safeParse({ prompt: 'x', hires: { width: 256, height: 128, mode: 'highres', strengths: [0.3] } }).error?.issues), /do not apply to --hires-mode highres/);
  assert.match(JSON.stringify(GenerateRequestSchema.safeParse({ prompt: 'x', pag: { scale: 3 }, hires: { width: 256, height: 128, mode: 'highres' } }).error?.issues), /--pag-scale does not apply to --hires-mode highres/);

  const sd15 = GenerateRequestSchema.parse({ model: fixture('sd15-tiny'), prompt: 'x', width: 128, height: 128, hires: { width: 256, height: 256, mode: 'highres' } });
  await assert.rejects(runGenerate(sd15), /--hires-mode highres is LinFusion's SDXL pipeline; .*sd15-tiny.* is not an SDXL model: use --hires-mode ladder/);
  const ddim = GenerateRequestSchema.parse({ model: fixture('sdxl-tiny'), prompt: 'x', sampler: 'ddim', hires: { width: 256, height: 128, mode: 'highres' } });
  await assert.rejects(runGenerate(ddim), /steps with Euler, as LinFusion's SDXL pipelines do.*give --sampler euler/);
  const size = GenerateRequestSchema.parse({ model: fixture('sdxl-tiny'), prompt: 'x', hires: { width: 384, height: 128, mode: 'highres' } });
  await assert.rejects(runGenerate(size), /--hires 384x128 is not a base with long side 128 doubled per scale.*nearest sizes of this shape 512x192 or 1024x384/);

  const { dir, file } = await baseImageFile();
  try {
    await assert.rejects(superresCommand([file, '--scale', '1.5', '--model', fixture('sdxl-tiny')]), /128×64 × 1.5 is 192×96, but SuperRes sizes are multiples of 64 on both sides: give --hires WxH instead, nearest 192x64, 192x128/);
    // What the upscale command hands to generate.
    const size = async () => ({ width: 128, height: 64 });
    assert.deepEqual(await superresGenerateArgs(['in.png', '--scale', '2', '--model', 'm', '--prompt', 'p', '--steps=8'], size), ['--model', 'm', '--prompt', 'p', '--steps=8', '--init-image', 'in.png', '--hires', '256x128', '--hires-mode', 'superres']);
    assert.deepEqual(await superresGenerateArgs(['--model', 'm', '--hires=512x256', 'in.png'], size), ['--model', 'm', '--init-image', 'in.png', '--hires', '512x256', '--hires-mode', 'superres']);
    await assert.rejects(superresGenerateArgs(['in.png', '--model', 'm'], size), /give the output size as --scale N/);
    const small = GenerateRequestSchema.parse({ model: fixture('sdxl-tiny'), prompt: 'x', initImage: file, hires: { width: 128, height: 128, mode: 'superres' } });
    await assert.rejects(runGenerate(small), /SuperRes to 128x128 needs a long side above this model's native 128 px/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('through the generate job: progress per stage, each stage image, every stage (size, strength, steps, dilation) in both metadata chunks', { skip: skipWithoutFixtures }, async () => {
  const { dir, file } = await baseImageFile();
  try {
    const common = { model: fixture('sdxl-tiny'), prompt: run.prompt, negative: run.negative, steps: 4, cfg: 7.5, seed: 42 };
    const events: GenerateProgress[] = [];
    const highres = GenerateRequestSchema.parse({ ...common, hires: { width: 256, height: 128, mode: 'highres', gaussianSigma: 0.8 } });
    const h = await runGenerate(highres, { onProgress: (p) => void events.push(p) });
    assert.deepEqual(h.stages, [{ width: 128, height: 64, steps: 4 }, { width: 256, height: 128, strength: Math.fround(0.32), steps: 2, dilation: 2 }]);
    assert.deepEqual(events.filter((e) => e.phase === 'denoise').map((e) => [e.stage?.index, e.step, e.total]), [[0, 1, 4], [0, 2, 4], [0, 3, 4], [0, 4, 4], [1, 1, 2], [1, 2, 2]]);
    assert.deepEqual(events.filter((e) => e.stageImage).map((e) => [e.stage?.index, e.stageImage!.width, e.stageImage!.height]), [[0, 128, 64]]);
    assert.equal(h.settings?.sampler, 'euler');
    assert.ok(h.notes?.some((n) => /^highres without LinFusion \(softmax attention.*\), estimated on cpu: 128×64 [\d.]+ GiB.*; 256×128 /.test(n)), JSON.stringify(h.notes));

    const superres = GenerateRequestSchema.parse({ ...common, initImage: file, hires: { width: 256, height: 128, mode: 'superres', upscaleStrength: 0.5 } });
    const r = await runGenerate(superres);
    assert.deepEqual(r.stages, [{ width: 256, height: 128, strength: 0.5, steps: 2, dilation: 2 }]);
    const record = { request: superres, image: { batchIndex: 0, seed: 42, width: 256, height: 128 }, model: { name: 'sdxl-tiny' }, ep: r.ep, studioVersion: 'test', stages: r.stages };
    assert.match(a1111Parameters(record), /LinFusion SuperRes: 256x128 0.5\/2 dilation 2/);
    assert.doesNotMatch(a1111Parameters(record), /Denoising strength/);
    assert.deepEqual(decodeStudioMetadata(encodeStudioMetadata(studioMetadata(record))).stages, r.stages);
    assert.match(a1111Parameters({ ...record, request: highres, stages: h.stages }), /LinFusion HighRes: 128x64 4; 256x128 0.32\/2 dilation 2/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
