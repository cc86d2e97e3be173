// The TAESD decoder graph against a plain float64 reference of the same layers, on random weights written
// here in both layouts (TAESD's own numbering and diffusers' AutoencoderTiny), and the studio using it for
// a generation's previews when a request names the file.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../pipelines/io/safetensors.ts';
import { GenerateRequestSchema, type Rgb8 } from '../pipelines/jobs/api.ts';
import { buildTaesdDecoderGraph, taesdLayout } from '../pipelines/models/taesd/decoder.ts';
import { runGenerate } from '../pipelines/recipes/generate.ts';
import { Session, tensor } from '../pipelines/runtime/session.ts';
import { fixture, skipWithoutFixtures } from './fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'taesd-'));
const LATENT = 4;
const WIDTH = 8;

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

type Conv = { weight: Float32Array; bias?: Float32Array; out: number; in: number; k: number };
type Layer = { kind: 'conv-in' | 'upsample-conv' | 'conv-out'; conv: Conv } | { kind: 'block'; convs: [Conv, Conv, Conv] };

/** A small TAESD decoder: conv-in, then (block, upsample+conv) twice, block, conv-out; TAESD indices from 1. */
function randomDecoder(): { layers: Array<{ index: number; layer: Layer }> } {
  const rand = lcg(7);
  const conv = (out: number, inp: number, bias = true): Conv => ({
    out, in: inp, k: 3,
    weight: Float32Array.from({ length: out * inp * 9 }, () => rand() / Math.sqrt(inp * 9) * 1.5),
    ...(bias ? { bias: Float32Array.from({ length: out }, () => rand() * 0.1) } : {}),
  });
  const block = (): Layer => ({ kind: 'block', convs: [conv(WIDTH, WIDTH), conv(WIDTH, WIDTH), conv(WIDTH, WIDTH)] });
  return {
    layers: [
      { index: 1, layer: { kind: 'conv-in', conv: conv(WIDTH, LATENT) } },
      { index: 3, layer: block() },
      { index: 5, layer: { kind: 'upsample-conv', conv: conv(WIDTH, WIDTH, false) } },
      { index: 6, layer: block() },
      { index: 8, layer: { kind: 'upsample-conv', conv: conv(WIDTH, WIDTH, false) } },
      { index: 9, layer: block() },
      { index: 10, layer: { kind: 'conv-out', conv: conv(3, WIDTH) } },
    ],
  };
}

function writeDecoder(path: string, d: ReturnType<typeof randomDecoder>, name: (index: number) => string): void {
  const t: Record<string, TensorToWrite> = {};
  const put = (key: string, c: Conv) => {
    t[`${key}.weight`] = { dtype: 'F32', shape: [c.out, c.in, c.k, c.k], data: c.weight };
    if (c.bias) t[`${key}.bias`] = { dtype: 'F32', shape: [c.out], data: c.bias };
  };
  for (const { index, layer } of d.layers) {
    if (layer.kind === 'block') layer.convs.forEach((c, j) => put(`${name(index)}.conv.${2 * j}`, c));
    else put(name(index), layer.conv);
  }
  writeSafetensors(path, t);
}

/** float64 reference of the decoder, [C, H, W] planes. */
function reference(d: ReturnType<typeof randomDecoder>, latents: Float32Array, h: number, w: number): Float64Array {
  const conv = (x: Float64Array, c: Conv, H: number, W: number) => {
    const y = new Float64Array(c.out * H * W);
    for (let o = 0; o < c.out; o++)
      for (let yy = 0; yy < H; yy++)
        for (let xx = 0; xx < W; xx++) {
          let s = c.bias?.[o] ?? 0;
          for (let i = 0; i < c.in; i++)
            for (let ky = 0; ky < 3; ky++)
              for (let kx = 0; kx < 3; kx++) {
                const sy = yy + ky - 1;
                const sx = xx + kx - 1;
                if (sy >= 0 && sy < H && sx >= 0 && sx < W) s += c.weight[((o * c.in + i) * 3 + ky) * 3 + kx] * x[(i * H + sy) * W + sx];
              }
          y[(o * H + yy) * W + xx] = s;
        }
    return y;
  };
  const relu = (x: Float64Array) => x.map((v) => Math.max(0, v));
  let H = h;
  let W = w;
  let x = Float64Array.from(latents, (v) => Math.tanh(v / 3) * 3);
  for (const { layer } of d.layers) {
    if (layer.kind === 'conv-in') x = relu(conv(x, layer.conv, H, W));
    else if (layer.kind === 'block') {
      const r = conv(relu(conv(relu(conv(x, layer.convs[0], H, W)), layer.convs[1], H, W)), layer.convs[2], H, W);
      x = relu(r.map((v, i) => v + x[i]));
    } else if (layer.kind === 'upsample-conv') {
      const up = new Float64Array(WIDTH * 4 * H * W);
      for (let c = 0; c < WIDTH; c++) for (let yy = 0; yy < 2 * H; yy++) for (let xx = 0; xx < 2 * W; xx++) up[(c * 2 * H + yy) * 2 * W + xx] = x[(c * H + (yy >> 1)) * W + (xx >> 1)];
      H *= 2;
      W *= 2;
      x = conv(up, layer.conv, H, W);
    } else x = conv(x, layer.conv, H, W).map((v) => Math.min(1, Math.max(0, v)));
  }
  return x;
}

const decoder = randomDecoder();
const original = join(dir, 'taesd_decoder.safetensors');
const diffusers = join(dir, 'diffusion_pytorch_model.safetensors');
writeDecoder(original, decoder, (i) => String(i));
writeDecoder(diffusers, decoder, (i) => `decoder.layers.${i - 1}`);

test('TAESD decoder graph = a float64 reference of its layers, in TAESD\'s and diffusers\' layouts', async () => {
  const [h, w] = [5, 6];
  const latents = Float32Array.from({ length: LATENT * h * w }, lcg(3)).map((v) => v * 4);
  const expected = reference(decoder, latents, h, w);
  for (const file of [original, diffusers]) {
    const weights = SafetensorsFile.open(file);
    const layout = taesdLayout(weights);
    assert.deepEqual([layout.latentChannels, layout.scale, layout.layers.map((l) => l.kind).join(',')], [4, 4, 'conv-in,block,upsample-conv,block,upsample-conv,block,conv-out']);
    const session = await Session.create(buildTaesdDecoderGraph(weights, h, w));
    const out = (await session.run({ latents: tensor(latents, [1, LATENT, h, w]) })).image;
    await session.release();
    assert.deepEqual(out.dims, [1, 3, 4 * h, 4 * w]);
    const data = out.data as Float32Array;
    let worst = 0;
    for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(data[i] - expected[i]));
    assert.ok(worst < 1e-5, `${file}: max |diff| ${worst}`);
    assert.ok(expected.some((v) => v > 0 && v < 1), 'the reference is not all clamped');
  }
});

test('a file that is no TAESD decoder is refused with what was expected', () => {
  const bad = join(dir, 'not-taesd.safetensors');
  writeSafetensors(bad, { 'model.conv.weight': { dtype: 'F32', shape: [1], data: new Float32Array(1) } });
  assert.throws(() => taesdLayout(SafetensorsFile.open(bad)), /no numbered layers: not a TAESD decoder \(expected taesd_decoder/);
});

test('sd15-tiny: previews drawn with the TAESD file the request names, at its scale', { skip: skipWithoutFixtures }, async () => {
  const previews: Rgb8[] = [];
  const request = GenerateRequestSchema.parse({ model: fixture('sd15-tiny'), prompt: 'a red apple', steps: 2, sampler: 'euler', seed: 1, width: 64, height: 64 });
  await runGenerate(request, { previews: { every: 1, taesd: original }, onProgress: (p) => p.preview && previews.push(p.preview) });
  assert.equal(previews.length, 2);
  // 8×8 latents, two upsamplings in this small decoder.
  for (const p of previews) assert.deepEqual([p.width, p.height], [32, 32]);
});
