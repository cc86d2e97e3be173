// Upscalers users own: the RRDBNet / SRVGG graphs against PyTorch goldens of tiny random networks written
// from the papers (test/fixtures/upscale/make_upscale_goldens.py), the original ESRGAN key names, tiles
// blended to the untiled result, the job with another scale, and refusals of files that are no upscaler.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../pipelines/io/safetensors.ts';
import { TorchPtFile } from '../pipelines/io/torch-pt.ts';
import { readImageMetadata } from '../pipelines/metadata/index.ts';
import { UsageError } from '../app/cli/exit-codes.ts';
import { upscaleCommand } from '../app/cli/upscale-command.ts';
import { BadRequestError, parseJob } from '../pipelines/jobs/api.ts';
import { run } from '../pipelines/jobs/run.ts';
import { openUpscaler } from '../pipelines/models/upscale/detect.ts';
import type { Nchw } from '../pipelines/models/vae/tiling.ts';
import { Upscaler } from '../pipelines/recipes/upscale/upscaler.ts';

const FIXTURES = resolve(import.meta.dirname, 'fixtures', 'upscale');
const goldens = SafetensorsFile.open(join(FIXTURES, 'goldens.safetensors'));
const dir = mkdtempSync(join(tmpdir(), 'upscale-'));
const input: Nchw = { data: goldens.readFloat32('input'), dims: [1, 3, 12, 16] };

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

for (const [file, kind, scale] of [['rrdb-x4.pth', 'rrdb', 4], ['rrdb-x2.pth', 'rrdb', 2], ['srvgg-x4.safetensors', 'srvgg', 4]] as const) {
  test(`${file}: detected as ${kind} ×${scale}, output = PyTorch's within 1/255`, async () => {
    const model = openUpscaler(join(FIXTURES, file));
    assert.equal(model.architecture.kind, kind);
    assert.equal(model.architecture.scale, scale);
    const upscaler = new Upscaler(model, ['cpu']);
    const out = await upscaler.upscale(input, { tile: 0, overlap: 0 });
    await upscaler.release();
    const golden = goldens.readFloat32(file.replace(/\.\w+$/, ''));
    assert.deepEqual(out.dims, [1, 3, 12 * scale, 16 * scale]);
    const diff = maxDiff(out.data, golden);
    assert.ok(diff < 1 / 255, `max |diff| ${diff}`);
    assert.ok(diff < 1e-4, `max |diff| ${diff}: float32 parity expected`);
  });
}

test('the original ESRGAN key names (model.0, model.1.sub.N.RDBk.convj.0, …) read as the same network', async () => {
  const pth = TorchPtFile.open(join(FIXTURES, 'rrdb-x4.pth'));
  const rename = (k: string) => {
    const block = /^body\.(\d+)\.rdb(\d)\.conv(\d)\.(\w+)$/.exec(k);
    if (block) return `model.1.sub.${block[1]}.RDB${block[2]}.conv${block[3]}.0.${block[4]}`;
    const layers: Record<string, string> = { conv_first: 'model.0', conv_body: 'model.1.sub.2', conv_up1: 'model.3', conv_up2: 'model.6', conv_hr: 'model.8', conv_last: 'model.10' };
    const [layer, param] = k.split('.');
    return `${layers[layer]}.${param}`;
  };
  const tensors: Record<string, TensorToWrite> = {};
  for (const k of pth.keys()) tensors[rename(k)] = { dtype: 'F32', shape: pth.info(k).shape, data: pth.readFloat32(k) };
  const file = join(dir, 'esrgan-old-names.safetensors');
  writeSafetensors(file, tensors);
  const model = openUpscaler(file);
  assert.deepEqual(model.architecture, { kind: 'rrdb', scale: 4, features: 8, growth: 4, blocks: 2, unshuffle: 1, upsamplings: 2 });
  const upscaler = new Upscaler(model, ['cpu']);
  const out = await upscaler.upscale(input, { tile: 0, overlap: 0 });
  await upscaler.release();
  assert.ok(maxDiff(out.data, goldens.readFloat32('rrdb-x4')) < 1e-4);
});

/** A 44×60 image with edges and noise: tile seams would show on it. */
function bigInput(): Nchw {
  const [h, w] = [44, 60];
  const data = new Float32Array(3 * h * w);
  let s = 99;
  for (let c = 0; c < 3; c++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    s = (s * 1103515245 + 12345) >>> 0;
    data[(c * h + y) * w + x] = ((x + 2 * y + 17 * c) % 23) / 23 * 0.7 + (s >>> 24) / 255 * 0.3;
  }
  return { data, dims: [1, 3, h, w] };
}

for (const file of ['rrdb-x4.pth', 'rrdb-x2.pth', 'srvgg-x4.safetensors']) {
  test(`${file}: 16-pixel tiles with 8 pixels of context match the untiled image within 1/255 (max |diff|; mean < 2e-4)`, async () => {
    const upscaler = new Upscaler(openUpscaler(join(FIXTURES, file)), ['cpu']);
    const image = bigInput();
    const whole = await upscaler.upscale(image, { tile: 0, overlap: 0 });
    const steps: number[] = [];
    const tiled = await upscaler.upscale(image, { tile: 16, overlap: 8, progress: (step) => steps.push(step) });
    await upscaler.release();
    assert.equal(steps.length, upscaler.tileCount(44, 60, { tile: 16, overlap: 8 }));
    assert.ok(steps.length > 4);
    const diffs = whole.data.map((v, i) => Math.abs(v - tiled.data[i]));
    const max = diffs.reduce((a, b) => Math.max(a, b), 0);
    const mean = diffs.reduce((a, b) => a + b, 0) / diffs.length;
    // Measured: rrdb-x4 2e-5, rrdb-x2 3.0e-3 (after its ×2 pixel unshuffle, 8 pixels of context are 4 feature pixels), srvgg 0.
    assert.ok(max < 1 / 255 && mean < 2e-4, `max ${max}, mean ${mean}`);
  });
}

test('the upscale job: reads the file, enlarges, resizes to another asked scale with a note', async () => {
  const png = join(dir, 'in.png');
  const pixels = Buffer.from(Array.from({ length: 12 * 16 * 3 }, (_, i) => Math.round(input.data[(i % 3) * 192 + Math.floor(i / 3)] * 255)));
  await sharp(pixels, { raw: { width: 16, height: 12, channels: 3 } }).png().toFile(png);
  const native = await run(parseJob({ kind: 'upscale', image: png, upscaler: { kind: 'model', file: join(FIXTURES, 'srvgg-x4.safetensors') } }));
  assert.deepEqual([native.image.width, native.image.height, native.scale, native.notes], [64, 48, 4, undefined]);
  const golden = goldens.readFloat32('srvgg-x4');
  for (let p = 0; p < 64 * 48; p++) for (let c = 0; c < 3; c++) assert.ok(Math.abs(native.image.pixels[p * 3 + c] - Math.round(Math.min(1, Math.max(0, golden[c * 64 * 48 + p])) * 255)) <= 1);
  const three = await run(parseJob({ kind: 'upscale', image: png, scale: 3, upscaler: { kind: 'model', file: join(FIXTURES, 'srvgg-x4.safetensors') } }));
  assert.deepEqual([three.image.width, three.image.height, three.scale], [48, 36, 3]);
  assert.match(three.notes?.join() ?? '', /enlarges ×4; its output was resized to ×3/);
});

test('files that are no upscaler are refused, naming the file and what is read', async () => {
  const write = (name: string, key: string) => {
    const file = join(dir, name);
    writeSafetensors(file, { [key]: { dtype: 'F32', shape: [1], data: new Float32Array(1) } });
    return file;
  };
  const job = (file: string) => run(parseJob({ kind: 'upscale', image: join(dir, 'in.png'), upscaler: { kind: 'model', file } }));
  await assert.rejects(job(write('swinir.safetensors', 'layers.0.residual_group.blocks.0.attn.relative_position_bias_table')), (e: Error) => e instanceof BadRequestError && /swinir\.safetensors: a SwinIR-like file without conv_first\.weight: incomplete/.test(e.message));
  await assert.rejects(job(write('sd.safetensors', 'model.diffusion_model.input_blocks.0.0.weight')), /a diffusion checkpoint, not an upscaler/);
  await assert.rejects(job(write('other.safetensors', 'foo.weight')), /unknown upscaler layout \(first tensors: foo\.weight\): the studio reads ESRGAN/);
  await assert.rejects(job(join(dir, 'in.png')), /not a \.pth or \.safetensors file/);
  assert.throws(() => parseJob({ kind: 'upscale', image: 'x.png', upscaler: { kind: 'model', file: 'u.pth' }, tile: 32, overlap: 16 }), /under half the tile/);
});

test('studio upscale IMAGE --upscaler FILE --scale 2 --tile 16: a PNG with the extras line; bad flags exit 2', async () => {
  const studio = (args: string[]) => spawnSync(process.execPath, [resolve(import.meta.dirname, '..', 'app', 'cli', 'studio.js'), 'upscale', ...args], { encoding: 'utf8', env: { ...process.env, STUDIO_TEST_ENGINE: '' } });
  const png = join(dir, 'cli-in.png');
  await sharp(Buffer.alloc(20 * 24 * 3, 90), { raw: { width: 24, height: 20, channels: 3 } }).png().toFile(png);
  const r = studio([png, '--upscaler', join(FIXTURES, 'rrdb-x4.pth'), '--scale', '2', '--tile', '16', '--overlap', '4', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { file: string; width: number; height: number; tiles: number };
  assert.deepEqual([report.file, report.width, report.height, report.tiles], [join(dir, 'cli-in-x2.png'), 48, 40, 4]);
  const meta = await sharp(report.file).metadata();
  assert.deepEqual([meta.width, meta.height], [48, 40]);
  assert.match(JSON.stringify(readImageMetadata(readFileSync(report.file))), /Postprocess upscale by: 2, Postprocess upscaler: rrdb-x4/);
  // Bad usage is refused before any engine starts (in-process: no second process needed to see it).
  const usage = (args: string[], message: RegExp) => assert.rejects(upscaleCommand(args), (e: Error) => e instanceof UsageError && message.test(e.message));
  await usage([png, '--upscaler', join(FIXTURES, 'rrdb-x4.pth'), '--tile', '16', '--overlap', '8'], /--overlap: must be under half the tile/);
  await usage([png], /--upscaler FILE is required/);
  await usage([png, '--upscaler', join(dir, 'missing.pth')], /--upscaler: no file at/);
});
