// AutoencoderKL graphs: parity with diffusers (sd15-tiny goldens), the posterior sample, fp16 decoding
// with its fp32 recovery, and tiled decoding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import { readJsonObject } from '../pipelines/checkpoints/json-fields.ts';
import { vaeConfigFromDiffusers, type VaeConfig } from '../pipelines/models/vae/config.ts';
import { Vae } from '../pipelines/models/vae/vae.ts';
import { brokenImage, brokenImageFrom } from '../pipelines/runtime/result-checks.ts';
import { ModelSessions } from '../pipelines/runtime/session-cache.ts';
import { fusedKernels } from '../pipelines/runtime/kernels.ts';
import { normalisedWeights, rampWeights, tileStarts, tiledApply, type Nchw } from '../pipelines/models/vae/tiling.ts';
import { fixture, relL2, skipWithoutFixtures } from './fixtures.ts';

const skip = skipWithoutFixtures;

function tinyVae(o: ConstructorParameters<typeof Vae>[2] = {}): Vae {
  const cfg: VaeConfig = vaeConfigFromDiffusers(readJsonObject(fixture('sd15-tiny/vae/config.json')), 'sd15-tiny/vae/config.json');
  return new Vae(SafetensorsFile.open(fixture('sd15-tiny/vae/diffusion_pytorch_model.safetensors')), cfg, o);
}

const golden = (name: string) => SafetensorsFile.open(fixture('sd15-tiny-golden.safetensors')).readFloat32(name);
const goldenLatents = (): Nchw => ({ data: golden('vae_in_latents'), dims: [1, 4, 16, 16] });
const maxAbs = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

test('decode matches diffusers: decode(latents / scaling_factor) (rel-L2 < 1e-4)', { skip }, async () => {
  const vae = tinyVae();
  const out = await vae.decode(goldenLatents());
  assert.deepEqual(out.dims, [1, 3, 128, 128]);
  const err = relL2(out.data, golden('vae_decoded'));
  assert.ok(err < 1e-4, `rel-L2 ${err}`);
  assert.equal(out.recoveredFrom, undefined);
  await vae.release();
});

test('encode matches diffusers: latent_dist.mean (rel-L2 < 1e-4); sample = mean + std·noise, latents scaled', { skip }, async () => {
  const vae = tinyVae();
  const image: Nchw = { data: golden('vae_in_image'), dims: [1, 3, 128, 128] };
  const noise = Float32Array.from({ length: 4 * 16 * 16 }, (_, i) => Math.sin(i * 12.9898) * 1.5);
  const out = await vae.encode(image, noise);
  const err = relL2(out.mean.data, golden('vae_encoded_mean'));
  assert.ok(err < 1e-4, `rel-L2 ${err}`);
  assert.ok(out.std.data.every((s) => s > 0 && Number.isFinite(s)));
  const expected = out.mean.data.map((m, i) => m + out.std.data[i] * noise[i]);
  assert.ok(maxAbs(out.sample!.data, expected) < 1e-5);
  assert.ok(maxAbs(out.latents.data, expected.map((v) => v * 0.18215)) < 1e-5);
  const meanOnly = await vae.encode(image);
  assert.equal(meanOnly.sample, undefined);
  assert.ok(maxAbs(meanOnly.latents.data, out.mean.data.map((v) => v * 0.18215)) < 1e-5);
  await vae.release();
});

test('fp16 decode stays close to the fp32 golden and needs no recovery', { skip }, async () => {
  const vae = tinyVae({ decodeDtype: 'float16' });
  const out = await vae.decode(goldenLatents());
  const err = relL2(out.data, golden('vae_decoded'));
  assert.ok(err < 1e-2, `fp16 rel-L2 ${err}`);
  assert.equal(out.recoveredFrom, undefined);
  assert.equal(vae.currentDecodeDtype, 'float16');
  await vae.release();
});

test('fp16 overflow (latents scaled past the fp16 range) is detected and recomputed in fp32; the fp16 decoder is released', { skip }, async () => {
  const scaled: Nchw = { data: golden('vae_in_latents').map((v) => v * 1e5), dims: [1, 4, 16, 16] };
  const sessions = ModelSessions.standalone('vae');
  const half = tinyVae({ decodeDtype: 'float16', sessions });
  const out = await half.decode(scaled);
  assert.equal(out.recoveredFrom, 'non-finite');
  assert.deepEqual(sessions.cache.stats, { created: 2, hits: 0, released: 1 }, 'the fp16 and fp32 decoders were made, and the fp16 one let go');
  assert.ok(out.data.every(Number.isFinite));
  const full = tinyVae();
  const reference = await full.decode(scaled);
  assert.deepEqual(out.data, reference.data);
  assert.equal(half.currentDecodeDtype, 'float32', 'later decodes start in fp32');
  await half.release();
  await full.release();
});

test('fp16 encode stays close to the fp32 golden; a posterior that overflows fp16 is redone in fp32 and the fp16 encoder released', { skip }, async () => {
  const image: Nchw = { data: golden('vae_in_image'), dims: [1, 3, 128, 128] };
  const sessions = ModelSessions.standalone('vae');
  const half = tinyVae({ encodeDtype: 'float16', sessions });
  const out = await half.encode(image);
  const err = relL2(out.mean.data, golden('vae_encoded_mean'));
  assert.ok(err < 1e-2, `fp16 rel-L2 ${err}`);
  assert.equal(half.currentEncodeDtype, 'float16');
  const scaled: Nchw = { data: image.data.map((v) => v * 1e5), dims: image.dims };
  const recovered = await half.encode(scaled);
  assert.equal(half.currentEncodeDtype, 'float32', 'later encodes start in fp32');
  assert.deepEqual(sessions.cache.stats, { created: 2, hits: 1, released: 1 }, 'the fp16 encoder ran twice, the fp32 one was made, and the fp16 one let go');
  const full = tinyVae();
  assert.deepEqual(recovered.mean.data, (await full.encode(scaled)).mean.data);
  await half.release();
  await full.release();
});

test('a decoder asked for fused kernels where no listed provider has them is built plain, with the plain result', { skip }, async () => {
  const sessions = ModelSessions.standalone('vae');
  const fused = tinyVae({ kernels: fusedKernels('cuda'), sessions });
  const plain = tinyVae();
  const out = await fused.decode(goldenLatents());
  assert.deepEqual(out.data, (await plain.decode(goldenLatents())).data);
  assert.deepEqual(sessions.cache.stats, { created: 2, hits: 0, released: 0 }, 'the CPU refused the fused graph; the plain one was made');
  assert.deepEqual((await fused.decode(goldenLatents())).data, out.data);
  assert.equal(sessions.cache.stats.hits, 1, 'the second decode goes straight to the plain graph');
  await fused.release();
  await plain.release();
});

test('brokenImage: NaN/Inf, and all-black (every value rounds to 0 in 8 bits)', () => {
  assert.equal(brokenImage(Float32Array.of(0.1, NaN)), 'non-finite');
  assert.equal(brokenImage(Float32Array.of(0.1, -Infinity)), 'non-finite');
  assert.equal(brokenImage(new Float32Array(12).fill(-1)), 'black');
  assert.equal(brokenImage(Float32Array.of(-1, -1, -1 + 0.9 / 255)), 'black');
  assert.equal(brokenImage(Float32Array.of(-1, -1, -1 + 1.1 / 255)), undefined);
  assert.equal(brokenImage(Float32Array.of(0.5, -0.5)), undefined);
});

test('brokenImageFrom (the sum and maximum the decoder graph computes) agrees with brokenImage', () => {
  const cases = [Float32Array.of(0.1, NaN), Float32Array.of(0.1, -Infinity), Float32Array.of(Infinity, -Infinity), new Float32Array(12).fill(-1), Float32Array.of(-1, -1, -1 + 0.9 / 255), Float32Array.of(-1, -1, -1 + 1.1 / 255), Float32Array.of(0.5, -0.5), new Float32Array(1000).fill(65504)];
  for (const image of cases) {
    const sum = image.reduce((a, v) => Math.fround(a + v), 0);
    assert.equal(brokenImageFrom(sum, Math.max(...image)), brokenImage(image), `[${[...image.slice(0, 3)]}…]`);
  }
});

test('tile layout: tiles cover the axis, the last one ends at the edge; overlap weights sum to one', () => {
  assert.deepEqual(tileStarts(16, 8, 4), [0, 4, 8]);
  assert.deepEqual(tileStarts(17, 8, 4), [0, 4, 8, 9]);
  assert.deepEqual(tileStarts(8, 8, 4), [0]);
  assert.throws(() => tileStarts(20, 8, 8), /overlap 8 must be in \[0, 8\)/);
  // Evenly placed tiles: the two ramps meeting in each overlap sum to one, so no renormalisation is needed.
  const even = tileStarts(18, 8, 3);
  assert.deepEqual(even, [0, 5, 10]);
  const total = new Float64Array(18 * 2);
  even.forEach((s, i) => rampWeights(even, i, 8, 2).forEach((w, u) => (total[s * 2 + u] += w)));
  for (const [p, w] of total.entries()) assert.ok(Math.abs(w - 1) < 1e-6, `position ${p}: weights sum to ${w}`);
  // A last tile moved back overlaps more; weights stay positive and are normalised when blending.
  const shifted = tileStarts(20, 8, 3);
  assert.deepEqual(shifted, [0, 5, 10, 12]);
  const cover = new Float64Array(20 * 2);
  shifted.forEach((s, i) => rampWeights(shifted, i, 8, 2).forEach((w, u) => (cover[s * 2 + u] += w)));
  assert.ok(cover.every((w) => w > 0));
  // Divided by that cover, each position's weights sum to one, whatever the layout.
  const summed = new Float64Array(20 * 2);
  normalisedWeights(shifted, 8, 2).forEach((w, i) => w.forEach((v, u) => (summed[shifted[i] * 2 + u] += v)));
  for (const [p, w] of summed.entries()) assert.ok(Math.abs(w - 1) < 1e-6, `position ${p}: normalised weights sum to ${w}`);
});

test('tiledApply reproduces a local operation exactly (nearest 8× upsampling)', async () => {
  const [h, w] = [21, 13];
  const input: Nchw = { data: Float32Array.from({ length: 2 * 3 * h * w }, (_, i) => Math.cos(i * 0.37)), dims: [2, 3, h, w] };
  const upsample = async (x: Nchw): Promise<Nchw> => {
    const [b, c, th, tw] = x.dims;
    const out = new Float32Array(b * c * th * 8 * tw * 8);
    for (let p = 0; p < b * c; p++) {
      for (let y = 0; y < th * 8; y++) for (let xx = 0; xx < tw * 8; xx++) out[(p * th * 8 + y) * tw * 8 + xx] = x.data[(p * th + (y >> 3)) * tw + (xx >> 3)];
    }
    return { data: out, dims: [b, c, th * 8, tw * 8] };
  };
  const whole = await upsample(input);
  const tiled = await tiledApply(input, 8, 3, 8, upsample);
  assert.deepEqual(tiled.dims, whole.dims);
  assert.ok(maxAbs(tiled.data, whole.data) < 1e-6);
});

test('tiled decode: one tile is the plain decode; overlapping tiles stay within the worst tile error', { skip }, async () => {
  const vae = tinyVae();
  const latents = goldenLatents();
  const whole = await vae.decode(latents);
  const single = await vae.decodeTiled(latents, { tile: 16 });
  assert.deepEqual(single.data, whole.data);

  // With GroupNorm statistics and mid-block attention taken per tile, a tile's pixels differ from the
  // whole decode's; blending is a convex combination per pixel, so its error can be no larger than
  // the largest error among the tiles covering that pixel. A misplaced or wrongly weighted tile breaks this.
  const size = 128;
  const worst = new Float64Array(size * size);
  const viaTiles = await tiledApply(latents, 8, 4, 8, async (part, [at]) => {
    const out = await vae.decode(part);
    const [, c, th, tw] = out.dims;
    for (let y = 0; y < th; y++) {
      for (let x = 0; x < tw; x++) {
        const p = (at.y * 8 + y) * size + at.x * 8 + x;
        let e = 0;
        for (let ch = 0; ch < c; ch++) e += (out.data[(ch * th + y) * tw + x] - whole.data[ch * size * size + p]) ** 2;
        worst[p] = Math.max(worst[p], e);
      }
    }
    return out;
  });
  const tiled = await vae.decodeTiled(latents, { tile: 8, overlap: 4 });
  assert.deepEqual(tiled.data, viaTiles.data);
  let blendErr = 0;
  for (let p = 0; p < size * size; p++) {
    let e = 0;
    for (let ch = 0; ch < 3; ch++) e += (tiled.data[ch * size * size + p] - whole.data[ch * size * size + p]) ** 2;
    assert.ok(e <= worst[p] * (1 + 1e-5) + 1e-10, `pixel ${p}: blended error ${e} exceeds the worst tile's ${worst[p]}`);
    blendErr += e;
  }
  const bound = Math.sqrt(worst.reduce((a, b) => a + b, 0));
  assert.ok(Math.sqrt(blendErr) <= bound);
  await vae.release();
});

test('tiled decode and encode stay close to the whole-image ones (tiny VAE, 128² image, 96 px tiles)', { skip }, async () => {
  const vae = tinyVae();
  const latents = goldenLatents();
  const whole = await vae.decode(latents);
  const tiles: number[] = [];
  const tiled = await vae.decodeTiled(latents, { tile: 12, overlap: 4, onTile: (done, total) => tiles.push(done, total) });
  assert.deepEqual(tiles, [1, 4, 2, 4, 3, 4, 4, 4]);
  const decodeErr = relL2(tiled.data, whole.data);
  // Not equal: each tile takes its own GroupNorm statistics and mid-block attention (diffusers' tiling,
  // which the reference ladder uses). Measured on these random weights: decode 0.144, encode mean 0.127
  // (64 px tiles: 0.38 / 0.31; 112 px: 0.077 / 0.080). A misplaced tile gives about 1.4.
  assert.ok(decodeErr < 0.16, `tiled decode rel-L2 ${decodeErr}`);

  const image: Nchw = { data: golden('vae_in_image'), dims: [1, 3, 128, 128] };
  const noise = Float32Array.from({ length: 4 * 16 * 16 }, (_, i) => Math.sin(i * 12.9898) * 1.5);
  const encWhole = await vae.encode(image, noise);
  const encTiled = await vae.encodeTiled(image, noise, { tile: 12, overlap: 4 });
  assert.deepEqual(encTiled.latents.dims, [1, 4, 16, 16]);
  const meanErr = relL2(encTiled.mean.data, encWhole.mean.data);
  assert.ok(meanErr < 0.14, `tiled encode mean rel-L2 ${meanErr}`);
  // The sample is drawn from the blended posterior and scaled like the graph does.
  const expected = encTiled.mean.data.map((m, i) => (m + encTiled.std.data[i] * noise[i]) * 0.18215);
  assert.ok(maxAbs(encTiled.latents.data, expected) < 1e-5);
  // One tile covering the image is the whole-image encode (to float32 rounding of the scaling).
  const single = await vae.encodeTiled(image, noise, { tile: 16 });
  assert.deepEqual(single.mean.data, encWhole.mean.data);
  assert.ok(maxAbs(single.latents.data, encWhole.latents.data) < 1e-6);
  console.log(`tiled vs whole: decode rel-L2 ${decodeErr.toExponential(2)}, encode mean rel-L2 ${meanErr.toExponential(2)}`);
  await vae.release();
});

test('tiles stacked into one run (3 per run over 4 tiles: a run of 3, then 1) decode and encode as one tile per run', { skip }, async () => {
  const vae = tinyVae();
  const latents = goldenLatents();
  const runs: number[] = [];
  const one = await vae.decodeTiled(latents, { tile: 12, overlap: 4 });
  const stacked = await vae.decodeTiled(latents, { tile: 12, overlap: 4, tilesPerRun: 3, onTile: (done) => runs.push(done) });
  assert.deepEqual(runs, [3, 4], 'progress per run');
  assert.ok(maxAbs(stacked.data, one.data) < 1e-5, `stacked decode differs by ${maxAbs(stacked.data, one.data)}`);
  const image: Nchw = { data: golden('vae_in_image'), dims: [1, 3, 128, 128] };
  const encOne = await vae.encodeTiled(image, undefined, { tile: 12, overlap: 4 });
  const encStacked = await vae.encodeTiled(image, undefined, { tile: 12, overlap: 4, tilesPerRun: 3 });
  assert.ok(maxAbs(encStacked.mean.data, encOne.mean.data) < 1e-5);
  assert.ok(maxAbs(encStacked.std.data, encOne.std.data) < 1e-5);
  await vae.release();
});

// The tolerance of tiled decoding, stated: convolutions are local, and with an overlap wider than their reach
// the blend reproduces them exactly (the nearest-upsampling test above); what differs is every GroupNorm's
// statistics, taken per tile instead of over the image, plus the mid-block attention's view. On a 192² image of
// i.i.d. latents the difference falls as the tile covers more of the image, and is the same without the
// attention: GroupNorm, not attention, sets it (measured 0.257 / 0.062 at 12 / 20 of 24 latent pixels; 0.184,
// 0.110, 0.071, 0.031 at 16, 24, 32, 40 of 48). The 0.144 above is the same effect at 12 of 16.
test('tiled decode tolerance: set by per-tile GroupNorm statistics, falling with the tile; attention adds nothing measurable', { skip }, async () => {
  const n = 24;
  const latents: Nchw = { data: Float32Array.from({ length: 4 * n * n }, (_, i) => ((Math.sin(i * 12.9898) * 43758.5453) % 1) * 1.5), dims: [1, 4, n, n] };
  const errors: Record<string, number[]> = {};
  for (const attention of [true, false]) {
    const cfg = vaeConfigFromDiffusers(readJsonObject(fixture('sd15-tiny/vae/config.json')), 'sd15-tiny/vae/config.json');
    const vae = new Vae(SafetensorsFile.open(fixture('sd15-tiny/vae/diffusion_pytorch_model.safetensors')), { ...cfg, midBlockAddAttention: attention });
    const whole = await vae.decode(latents);
    errors[String(attention)] = [];
    for (const tile of [12, 20]) errors[String(attention)].push(relL2((await vae.decodeTiled(latents, { tile, overlap: tile / 2 })).data, whole.data));
    await vae.release();
  }
  const [withAttention, without] = [errors.true, errors.false];
  console.log(`tiled vs whole, 192² image: tiles 96 / 160 px, rel-L2 ${withAttention.map((e) => e.toExponential(2)).join(' / ')} (without attention ${without.map((e) => e.toExponential(2)).join(' / ')})`);
  assert.ok(withAttention[0] < 0.3 && withAttention[1] < 0.08, `the stated bounds: ≤ 0.3 at half the image per tile, ≤ 0.08 at 5/6 (${withAttention})`);
  assert.ok(withAttention[1] < withAttention[0] / 2, 'larger tiles: closer to the whole decode');
  withAttention.forEach((e, i) => assert.ok(Math.abs(e - without[i]) < 0.05 * e, `attention changes the difference by under 5% (${e} vs ${without[i]})`));
});

test('decode and encode tile by themselves above the threshold (default: longer side above 2048 px)', { skip }, async () => {
  const vae = tinyVae();
  assert.equal(vae.tilingFor(2048, 2048), undefined);
  assert.deepEqual(vae.tilingFor(2048, 4096), { tile: 256, overlap: 64 });
  assert.equal(tinyVae({ tiling: false }).tilingFor(16384, 16384), undefined);
  const small = tinyVae({ tiling: { above: 64, tile: 8, overlap: 4 } });
  const latents = goldenLatents();
  const auto = await small.decode(latents);
  const explicit = await vae.decodeTiled(latents, { tile: 8, overlap: 4 });
  assert.deepEqual(auto.data, explicit.data);
  await small.release();
  await vae.release();
});

test("the memory plan's tile (latent pixels, a quarter overlapping) tiles any image larger than it, below the threshold too", { skip }, async () => {
  const vae = tinyVae();
  assert.deepEqual(vae.tilingFor(128, 128, 8), { tile: 8, overlap: 2 }, 'a 128 px image in 64 px tiles');
  assert.equal(vae.tilingFor(128, 128, 16), undefined, 'an image no larger than the tile is decoded whole');
  assert.deepEqual(vae.tilingFor(8192, 16384, 128), { tile: 128, overlap: 32 }, '1024 px tiles instead of the default 2048');
  const latents = goldenLatents();
  const planned = await vae.decode(latents, undefined, { vaeTile: 8 });
  assert.deepEqual(planned.data, (await vae.decodeTiled(latents, { tile: 8, overlap: 2 })).data);
  const image: Nchw = { data: golden('vae_in_image'), dims: [1, 3, 128, 128] };
  assert.deepEqual((await vae.encode(image, undefined, undefined, { vaeTile: 8 })).mean.data, (await vae.encodeTiled(image, undefined, { tile: 8, overlap: 2 })).mean.data);
  await vae.release();
});

test("a split stage's VAE (PlannedTiles.sharedArena) gets sessions of its own on the shared arena, reused, with the same image", { skip }, async () => {
  const sessions = ModelSessions.standalone('vae');
  const vae = tinyVae({ sessions });
  const own = await vae.decode(goldenLatents());
  const created = sessions.cache.stats.created;
  const shared = await vae.decode(goldenLatents(), undefined, { sharedArena: true });
  assert.equal(sessions.cache.stats.created, created + 1, 'the shared-arena decoder is another session');
  assert.deepEqual(shared.data, own.data);
  await vae.decode(goldenLatents(), undefined, { sharedArena: true });
  await vae.decode(goldenLatents());
  await vae.encode({ data: own.data, dims: own.dims }, undefined, undefined, { sharedArena: true });
  assert.equal(sessions.cache.stats.created, created + 2, 'each kind is created once, then found again; the encoder once');
  // Tiled (8-pixel latent tiles): the tiles' decoder on the shared arena, once for every tile, found again after.
  await vae.decode(goldenLatents(), undefined, { vaeTile: 8, sharedArena: true });
  await vae.decode(goldenLatents(), undefined, { vaeTile: 8, sharedArena: true });
  assert.equal(sessions.cache.stats.created, created + 3);
  await vae.decode(goldenLatents(), undefined, { vaeTile: 8 });
  assert.equal(sessions.cache.stats.created, created + 4, 'the same tiles on their own arena are another session');
  await vae.release();
});
