// SwinIR upscalers (classic SR with the pixel-shuffle upsampler and a 1-conv residual connection; real-world
// SR with nearest+conv and 3 convs) against the PyTorch SwinIR written from the paper and the released
// state-dict layout (test/fixtures/upscale/make_swinir_goldens.py): an odd-sized input, so the reflect
// padding to the window and the crop back count; tiled runs; the variants not read are refused by name.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { parseJob } from '../pipelines/jobs/api.ts';
import { run } from '../pipelines/jobs/run.ts';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../pipelines/io/safetensors.ts';
import { TorchPtFile } from '../pipelines/io/torch-pt.ts';
import { openUpscaler } from '../pipelines/models/upscale/detect.ts';
import { Upscaler } from '../pipelines/recipes/upscale/upscaler.ts';

const FIXTURES = resolve(import.meta.dirname, 'fixtures', 'upscale');
const goldens = SafetensorsFile.open(join(FIXTURES, 'swinir-goldens.safetensors'));
const input = { data: goldens.readFloat32('swinir-input'), dims: [1, 3, 13, 18] as [number, number, number, number] };
/** A 40×56 image with edges and noise, for tiled runs. */
function bigInput(): { data: Float32Array; dims: [number, number, number, number] } {
  const [h, w] = [40, 56];
  const data = new Float32Array(3 * h * w);
  let seed = 7;
  for (let c = 0; c < 3; c++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    data[(c * h + y) * w + x] = (((x >> 3) + (y >> 3) + c) % 2) * 0.6 + 0.2 + (seed / 2 ** 32) * 0.2;
  }
  return { data, dims: [1, 3, h, w] };
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

const cases = [
  { file: 'swinir-x2.pth', scale: 2, upsampler: 'pixelshuffle', residualConv: '1conv', layers: [{ depth: 2, heads: 2 }, { depth: 2, heads: 3 }] },
  { file: 'swinir-real-x4.pth', scale: 4, upsampler: 'nearest+conv', residualConv: '3conv', layers: [{ depth: 2, heads: 2 }] },
] as const;

for (const c of cases) {
  test(`${c.file}: detected as SwinIR ×${c.scale} (${c.upsampler}, ${c.residualConv}), output = PyTorch's; tiles agree`, async (t) => {
    const model = openUpscaler(join(FIXTURES, c.file));
    assert.deepEqual({ ...model.architecture, embedDim: undefined, features: undefined }, {
      kind: 'swinir', scale: c.scale, layers: c.layers, window: 4, patchNorm: true, residualConv: c.residualConv, upsampler: c.upsampler, embedDim: undefined, features: undefined,
    });
    const upscaler = new Upscaler(model, ['cpu']);
    const out = await upscaler.upscale(input, { tile: 0, overlap: 0 });
    assert.deepEqual(out.dims, [1, 3, 13 * c.scale, 18 * c.scale]);
    const diff = maxDiff(out.data, goldens.readFloat32(c.file.replace('.pth', '')));
    t.diagnostic(`max |diff| vs PyTorch ${diff.toExponential(2)}`);
    assert.ok(diff < 1e-4, `max |diff| ${diff}: float32 parity expected`);
    const big = bigInput();
    const whole = await upscaler.upscale(big, { tile: 0, overlap: 0 });
    // The shifted windows reach further than a conv net: seams fade as the context around each tile grows.
    const seams = [];
    for (const overlap of [8, 16]) {
      const tiled = await upscaler.upscale(big, { tile: 16, overlap });
      const max = maxDiff(tiled.data, whole.data);
      const mean = tiled.data.reduce((m, v, i) => m + Math.abs(v - whole.data[i]), 0) / tiled.data.length;
      t.diagnostic(`tiled (16-pixel cores, ${overlap} of context) vs whole on 40×56: max |diff| ${max.toExponential(2)}, mean ${mean.toExponential(2)}`);
      seams.push({ max, mean });
    }
    assert.ok(seams[1].max < seams[0].max && seams[1].mean < seams[0].mean, 'more context, smaller seams');
    assert.ok(seams[0].mean < 2e-3 && seams[1].mean < 2e-4, `mean |diff| ${seams[0].mean} (8 px of context), ${seams[1].mean} (16 px)`);
    await upscaler.release();
  });
}

test('studio upscale\'s job runs a SwinIR file: PyTorch\'s output as 8-bit pixels', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'swinir-job-'));
  const png = join(dir, 'in.png');
  const [h, w] = [13, 18];
  const pixels = Buffer.from(Array.from({ length: h * w * 3 }, (_, i) => Math.round(input.data[(i % 3) * h * w + Math.floor(i / 3)] * 255)));
  await sharp(pixels, { raw: { width: w, height: h, channels: 3 } }).png().toFile(png);
  const r = await run(parseJob({ kind: 'upscale', image: png, upscaler: { kind: 'model', file: join(FIXTURES, 'swinir-x2.pth') }, tile: 0 }));
  assert.deepEqual([r.image.width, r.image.height, r.scale], [36, 26, 2]);
  const golden = goldens.readFloat32('swinir-x2');
  const plane = 36 * 26;
  let worst = 0;
  for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(r.image.pixels[p * 3 + c] - Math.round(Math.min(1, Math.max(0, golden[c * plane + p])) * 255)));
  assert.ok(worst <= 1, `PNG differs by ${worst}/255`);
});

test('Swin2SR, lightweight SwinIR and restoration-only SwinIR files are refused naming what they are', () => {
  const dir = mkdtempSync(join(tmpdir(), 'swinir-'));
  const pth = TorchPtFile.open(join(FIXTURES, 'swinir-x2.pth'));
  const variant = (name: string, edit: (tensors: Record<string, TensorToWrite>) => void) => {
    const tensors: Record<string, TensorToWrite> = {};
    for (const k of pth.keys()) tensors[k] = { dtype: 'F32', shape: pth.info(k).shape, data: pth.readFloat32(k) };
    edit(tensors);
    const file = join(dir, `${name}.safetensors`);
    writeSafetensors(file, tensors);
    return file;
  };
  const without = (prefix: string) => (ts: Record<string, TensorToWrite>) => { for (const k of Object.keys(ts)) if (k.startsWith(prefix)) delete ts[k]; };
  const swin2sr = variant('swin2sr', (ts) => { ts['layers.0.residual_group.blocks.0.attn.logit_scale'] = { dtype: 'F32', shape: [2, 1, 1], data: new Float32Array(2) }; });
  assert.throws(() => openUpscaler(swin2sr), /a Swin2SR upscaler \(scaled cosine attention\): not supported/);
  assert.throws(() => openUpscaler(variant('light', without('conv_before_upsample'))), /a lightweight SwinIR \(pixelshuffledirect upsampler\): not supported/);
  assert.throws(() => openUpscaler(variant('denoise', (ts) => { without('conv_before_upsample')(ts); without('upsample')(ts); })), /a SwinIR restoration model without an upsampler/);
});
