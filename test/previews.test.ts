// Live previews: the least-squares latent→RGB fit, the fit through a real VAE (cached per VAE), the
// step schedule, previews of a whole generation, and `studio generate --previews DIR` on the built-in
// emoji model, whose last preview is its own decoder's image of the final latents.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { GenerateRequestSchema, type Rgb8 } from '../pipelines/jobs/api.ts';
import { applyLatentRgb, fitLatentRgb } from '../pipelines/previews/latent-rgb.ts';
import { stepPreviews } from '../pipelines/previews/previewer.ts';
import { colourChart, vaeLatentRgb } from '../pipelines/previews/vae-fit.ts';
import { runGenerate } from '../pipelines/recipes/generate.ts';
import { SdPipeline } from '../pipelines/recipes/sd/pipeline.ts';
import { fixture, skipWithoutFixtures } from './fixtures.ts';

const ROOT = resolve(import.meta.dirname, '..');

/** A small deterministic generator (tests must not depend on Math.random). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

test('fitLatentRgb recovers an affine map exactly from points it produced', () => {
  const channels = 4;
  const points = 200;
  const rand = lcg(1);
  const weights = Float32Array.from({ length: 3 * channels }, rand);
  const bias = Float32Array.from([0.1, -0.2, 0.3]);
  const latents = Float32Array.from({ length: channels * points }, rand);
  const targets = new Float32Array(3 * points);
  for (let p = 0; p < points; p++) {
    for (let k = 0; k < 3; k++) {
      let v = bias[k];
      for (let c = 0; c < channels; c++) v += weights[k * channels + c] * latents[c * points + p];
      targets[k * points + p] = v;
    }
  }
  const fit = fitLatentRgb(latents, targets, channels);
  for (let i = 0; i < weights.length; i++) assert.ok(Math.abs(fit.weights[i] - weights[i]) < 1e-5, `weight ${i}: ${fit.weights[i]} vs ${weights[i]}`);
  for (let k = 0; k < 3; k++) assert.ok(Math.abs(fit.bias[k] - bias[k]) < 1e-5, `bias ${k}`);
  // And the map draws: a latent of zeros is the bias, (v/2 + 0.5)·255.
  const image = applyLatentRgb(fit, new Float32Array(channels), 1, 1);
  assert.deepEqual([...image.pixels], [0.1, -0.2, 0.3].map((b) => Math.round((b / 2 + 0.5) * 255)));
  assert.throws(() => fitLatentRgb(new Float32Array(10), new Float32Array(9), 4), /do not match/);
});

test('sd15-tiny: the map fitted through the VAE is the least-squares map of its colour chart, cached per VAE', { skip: skipWithoutFixtures }, async () => {
  const pipeline = SdPipeline.load(fixture('sd15-tiny'));
  try {
    const map = await vaeLatentRgb(pipeline.vae);
    assert.equal(map.channels, pipeline.vae.config.latentChannels);
    assert.equal(await vaeLatentRgb(pipeline.vae), map, 'a second fit of the same VAE comes from the cache');
    // The chart's latents through the map, against the chart colour at each latent pixel's block.
    const chart = colourChart();
    const encoded = await pipeline.vae.encode({ data: chart, dims: [1, 3, 128, 128] });
    const [, , h, w] = encoded.latents.dims;
    const scale = 128 / h;
    const error = (m: typeof map) => {
      let sum = 0;
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          for (let k = 0; k < 3; k++) {
            let v = m.bias[k];
            for (let c = 0; c < m.channels; c++) v += m.weights[k * m.channels + c] * encoded.latents.data[c * h * w + y * w + x];
            sum += (v - chart[k * 128 * 128 + (y * scale) * 128 + x * scale]) ** 2;
          }
        }
      }
      return sum;
    };
    // The random-weight fixture VAE does not map colours linearly, so the check is optimality: any nudge is worse.
    const best = error(map);
    for (let i = 0; i < map.weights.length; i++) {
      for (const d of [-0.01, 0.01]) {
        const nudged = { ...map, weights: map.weights.slice() };
        nudged.weights[i] += d;
        assert.ok(error(nudged) > best, `weight ${i} nudged by ${d} fits better`);
      }
    }
  } finally {
    await pipeline.release();
  }
});

test('stepPreviews draws every N steps and the last, and makes its previewer only when one is drawn', async () => {
  const seen: Array<{ step: number; preview: boolean }> = [];
  let made = 0;
  const draw = () => {
    made++;
    return async () => ({ width: 1, height: 1, pixels: new Uint8Array(3) });
  };
  const onStep = stepPreviews({ every: 3 }, draw, (p) => seen.push({ step: p.step, preview: p.preview !== undefined }), 1, 1);
  for (let i = 0; i < 7; i++) await onStep(i, 7, new Float32Array(4));
  assert.deepEqual(seen.filter((s) => s.preview).map((s) => s.step), [3, 6, 7]);
  assert.equal(seen.length, 7);
  assert.equal(made, 1);
  const none = stepPreviews({ every: 0 }, draw, () => {}, 1, 1);
  await none(0, 1, new Float32Array(4));
  assert.equal(made, 1, 'every 0 draws nothing');
});

test('sd15-tiny: a generation reports a latent-resolution preview with every denoise step', { skip: skipWithoutFixtures }, async () => {
  const previews: Array<{ step: number; image: Rgb8 }> = [];
  const request = GenerateRequestSchema.parse({ model: fixture('sd15-tiny'), prompt: 'a red apple', steps: 3, sampler: 'euler', seed: 1, width: 80, height: 64 });
  await runGenerate(request, { onProgress: (p) => p.preview && previews.push({ step: p.step, image: p.preview }) });
  assert.deepEqual(previews.map((p) => p.step), [1, 2, 3]);
  for (const { image } of previews) assert.deepEqual([image.width, image.height, image.pixels.length], [10, 8, 10 * 8 * 3]);
  assert.notDeepEqual(previews[0].image.pixels, previews[2].image.pixels, 'the previews follow the latents');
});

test('studio generate --previews DIR --preview-every 3 (emoji-lit): step PNGs, the last one the image itself', () => {
  const dir = mkdtempSync(join(tmpdir(), 'previews-'));
  const r = spawnSync(process.execPath, [join(ROOT, 'app', 'cli', 'studio.js'), 'generate', '--prompt', 'a smiling cat face', '--seed', '5', '--previews', join(dir, 'steps'), '--preview-every', '3', '--out', join(dir, 'cat.png'), '--json'], { encoding: 'utf8', env: { ...process.env, STUDIO_TEST_ENGINE: '' } });
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { files: string[]; previews: string[] };
  const steps = readdirSync(join(dir, 'steps')).sort();
  assert.deepEqual(steps, ['step-003.png', 'step-006.png', 'step-008.png']);
  assert.deepEqual(report.previews.map((f) => f.slice(-12)), steps);
  return Promise.all([sharp(join(dir, 'steps', 'step-008.png')).raw().toBuffer({ resolveWithObject: true }), sharp(report.files[0]).raw().toBuffer({ resolveWithObject: true })]).then(([last, image]) => {
    assert.equal(last.info.width, 64);
    assert.ok(last.data.equals(image.data), 'the last preview (the own decoder on the final latents) is the image');
  });
});

test('studio generate: --preview-every without --previews is a usage error', () => {
  const r = spawnSync(process.execPath, [join(ROOT, 'app', 'cli', 'studio.js'), 'generate', '--prompt', 'x', '--preview-every', '2'], { encoding: 'utf8', env: { ...process.env, STUDIO_TEST_ENGINE: '' } });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--preview-every: only applies with --previews DIR/);
});
