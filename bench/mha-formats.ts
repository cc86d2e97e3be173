// Attention input layouts on ORT's CUDA provider: a stack of UNet-like attention layers (self-attention from
// [B, S, C], cross-attention on 77 text tokens, output projection, residual) built three ways — three Q/K/V
// MatMuls into MultiHeadAttention (`separate`, the graph the studio emits), one MatMul into packed QKV
// [B, S, heads, 3, d] and packed KV (`packed`; `packedqkv` keeps the cross-attention separate), one MatMul then Split (`split`) — timed per run with GPU memory,
// and checked equal to each other (same weights, rearranged). bench/mha_formats_torch.py is PyTorch's side.
//
//   npx tsx bench/mha-formats.ts --ep cpu --tokens 256 --shapes 2x8 --runs 2     a CPU check, seconds
//   node mha-formats.mjs --ep cuda                                              the GPU inbox run
import { parseArgs } from 'node:util';
import { f32ToF16, f16ToF32 } from '../pipelines/io/float16.ts';
import { Graph, type T } from '../pipelines/onnx/graph.ts';
import * as op from '../pipelines/onnx/ops.ts';
import { Session, ort, type Provider } from '../pipelines/runtime/session.ts';
import { Uniform } from './lib/random-safetensors.ts';
import { startGpuMemorySampler } from './lib/gpu-memory.ts';

type Format = 'separate' | 'packed' | 'packedqkv' | 'split';
const TEXT_TOKENS = 77;
const TEXT_WIDTH = 768;
const TILE = 64;

const { values: a } = parseArgs({
  options: {
    ep: { type: 'string', default: 'cuda' },
    tokens: { type: 'string', default: '4096,16384,65536' },
    shapes: { type: 'string', default: '8x40,10x64' },
    formats: { type: 'string', default: 'separate,packed,packedqkv,split' },
    layers: { type: 'string', default: '4' },
    runs: { type: 'string', default: '10' },
    batch: { type: 'string', default: '2' },
    'deadline-s': { type: 'string', default: '1e9' },
  },
});
const provider = a.ep as Provider;
const dtype = provider === 'cuda' ? 'float16' : 'float32';
const layers = Number(a.layers);
const runs = Number(a.runs);
const batch = Number(a.batch);
const deadline = Date.now() + Number(a['deadline-s']) * 1000;

/** Random [in, out] weights of one attention layer, with the packed and concatenated arrangements of the same numbers. */
function layerWeights(rng: Uniform, c: number, heads: number) {
  const d = c / heads;
  const mat = (rows: number, cols: number) => rng.fill(new Float32Array(rows * cols), rows ** -0.5);
  const [wq, wk, wv, wo] = [mat(c, c), mat(c, c), mat(c, c), mat(c, c)];
  const [ck, cv] = [mat(TEXT_WIDTH, c), mat(TEXT_WIDTH, c)];
  const cq = mat(c, c);
  // Packed: column (n·parts + j)·d + i holds matrix j's column n·d + i.
  const pack = (ms: Float32Array[], rows: number) => {
    const parts = ms.length;
    const out = new Float32Array(rows * c * parts);
    for (let r = 0; r < rows; r++) for (let n = 0; n < heads; n++) for (let j = 0; j < parts; j++) for (let i = 0; i < d; i++) out[r * c * parts + (n * parts + j) * d + i] = ms[j][r * c + n * d + i];
    return out;
  };
  const cat = (ms: Float32Array[], rows: number) => {
    const out = new Float32Array(rows * c * ms.length);
    for (let r = 0; r < rows; r++) ms.forEach((m, j) => out.set(m.subarray(r * c, (r + 1) * c), r * c * ms.length + j * c));
    return out;
  };
  return { wq, wk, wv, wo, cq, ck, cv, qkvPacked: pack([wq, wk, wv], c), kvPacked: pack([ck, cv], TEXT_WIDTH), qkvCat: cat([wq, wk, wv], c), kvCat: cat([ck, cv], TEXT_WIDTH) };
}

function buildGraph(format: Format, tokens: number, c: number, heads: number, seed: number): Graph {
  const g = new Graph(`mha-${format}`);
  const w = (data: Float32Array, rows: number, cols: number) => g.constant(dtype, [rows, cols], dtype === 'float16' ? f32ToF16(data) : data, 'w');
  const d = c / heads;
  const tile = g.input('x', dtype, [batch, TILE, c]);
  const text = g.input('text', dtype, [batch, TEXT_TOKENS, TEXT_WIDTH]);
  let x: T = op.tile(tile, [1, tokens / TILE, 1]);
  const rng = new Uniform(seed);
  for (let l = 0; l < layers; l++) {
    const lw = layerWeights(rng, c, heads);
    let self: T;
    let cross: T;
    const q2 = op.matmul(x, w(lw.cq, c, c));
    if (format === 'separate') {
      self = op.multiHeadAttention(op.matmul(x, w(lw.wq, c, c)), op.matmul(x, w(lw.wk, c, c)), op.matmul(x, w(lw.wv, c, c)), heads);
      cross = op.multiHeadAttention(q2, op.matmul(text, w(lw.ck, TEXT_WIDTH, c)), op.matmul(text, w(lw.cv, TEXT_WIDTH, c)), heads);
    } else if (format === 'packed' || format === 'packedqkv') {
      self = op.packedQkvAttention(op.reshape(op.matmul(x, w(lw.qkvPacked, c, 3 * c)), [batch, tokens, heads, 3, d]));
      cross =
        format === 'packed'
          ? op.packedKvAttention(q2, op.reshape(op.matmul(text, w(lw.kvPacked, TEXT_WIDTH, 2 * c)), [batch, TEXT_TOKENS, heads, 2, d]))
          : op.multiHeadAttention(q2, op.matmul(text, w(lw.ck, TEXT_WIDTH, c)), op.matmul(text, w(lw.cv, TEXT_WIDTH, c)), heads);
    } else {
      const [q, k, v] = op.split(op.matmul(x, w(lw.qkvCat, c, 3 * c)), -1, [c, c, c]);
      self = op.multiHeadAttention(q, k, v, heads);
      const [k2, v2] = op.split(op.matmul(text, w(lw.kvCat, TEXT_WIDTH, 2 * c)), -1, [c, c]);
      cross = op.multiHeadAttention(q2, k2, v2, heads);
    }
    x = op.add(op.matmul(op.add(self, cross), w(lw.wo, c, c)), x);
  }
  g.output(op.reduceMean(x, [1]), 'y');
  return g;
}

function feeds(c: number): Record<string, ort.Tensor> {
  const rng = new Uniform(7);
  const make = (n: number, dims: number[]) => {
    const f = rng.fill(new Float32Array(n), 1);
    return dtype === 'float16' ? new ort.Tensor('float16', f32ToF16(f), dims) : new ort.Tensor('float32', f, dims);
  };
  return { x: make(batch * TILE * c, [batch, TILE, c]), text: make(batch * TEXT_TOKENS * TEXT_WIDTH, [batch, TEXT_TOKENS, TEXT_WIDTH]) };
}

const toF32 = (t: ort.Tensor) => (t.type === 'float16' ? f16ToF32(t.data as Uint16Array) : (t.data as Float32Array));
const relL2 = (x: Float32Array, ref: Float32Array) => {
  let num = 0;
  let den = 0;
  for (let i = 0; i < x.length; i++) {
    num += (x[i] - ref[i]) ** 2;
    den += ref[i] ** 2;
  }
  return Math.sqrt(num / den);
};
const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)];

console.log(`| tokens | heads × d | format | ms per run (${layers} layers) | GPU GiB | rel-L2 vs separate |`);
console.log('| ---: | --- | --- | ---: | ---: | ---: |');
const results: unknown[] = [];
outer: for (const tokens of a.tokens.split(',').map(Number)) {
  for (const shape of a.shapes.split(',')) {
    const [heads, d] = shape.split('x').map(Number);
    const c = heads * d;
    let reference: Float32Array | undefined;
    for (const format of a.formats.split(',') as Format[]) {
      if (Date.now() > deadline) break outer;
      const sampler = startGpuMemorySampler(`/tmp/mha-formats-${process.pid}.csv`, provider === 'cuda');
      let row: string;
      try {
        const session = await Session.create(buildGraph(format, tokens, c, heads, 11), { providers: [provider] });
        const f = feeds(c);
        const first = toF32((await session.run(f)).y);
        const times: number[] = [];
        for (let r = 0; r < runs; r++) {
          const t0 = performance.now();
          await session.run(f);
          times.push(performance.now() - t0);
        }
        const gib = sampler?.stop();
        await session.release();
        reference ??= first;
        const err = relL2(first, reference);
        results.push({ tokens, heads, d, format, ms: median(times), gib, relL2: err });
        row = `| ${tokens} | ${heads} × ${d} | ${format} | ${median(times).toFixed(2)} | ${gib?.toFixed(2) ?? '–'} | ${err.toExponential(1)} |`;
      } catch (e) {
        sampler?.stop();
        row = `| ${tokens} | ${heads} × ${d} | ${format} | failed: ${(e as Error).message.split('\n')[0].slice(0, 200)} | | |`;
      }
      console.log(row);
    }
  }
}
console.log(`JSON ${JSON.stringify(results)}`);
