// The 16K feed-forward in pieces on ORT's CUDA provider (issue 15): one SD 1.5 level-0 GEGLU feed-forward plus its
// residual over 2 M tokens of 320 channels (16384×8192, one CFG row), cut into pieces along the tokens three ways —
// `split` (Split + Concat on the token axis, what op.inPieces emits), `slice` (one Slice per piece + Concat) and
// `rows` (a free Reshape to [pieces, tokens / pieces, C], Split + Concat on that outer axis) — timed as whole
// session runs (wall clock, the run ends with a small read-back), with and without the arena given back after
// each run, under each CUDA tuning given (cuda-options.ts syntax; the arena's growth is the question). ORT's per-node profile attributes host-side stalls (allocation, full launch queues) to whichever node
// is running, so only wall-clock differences between these graphs say what the pieces cost.
// The tokens are made on the device (Expand of a [1, 1, C] input plus a per-token ramp) and reduced to [1, C] at
// the end, so no large host copies enter the timing; `none` is that frame alone.
//
//   npx tsx bench/ff-pieces.ts --ep cpu --tokens 4096 --pieces 1,4 --runs 2     a CPU check
//   node ff-pieces.mjs --ep cuda                                                 the GPU run (inbox `ff-pieces`)
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { f32ToF16 } from '../pipelines/io/float16.ts';
import { Graph, type T } from '../pipelines/onnx/graph.ts';
import * as op from '../pipelines/onnx/ops.ts';
import { Session, f16Tensor, tensor, type Provider } from '../pipelines/runtime/session.ts';
import { parseCudaTuning } from '../pipelines/runtime/native/cuda-options.ts';
import { Uniform } from './lib/random-safetensors.ts';

type Mode = 'none' | 'split' | 'slice' | 'rows';

const { values: a } = parseArgs({
  options: {
    ep: { type: 'string', default: 'cuda' },
    tokens: { type: 'string', default: String(2 ** 21) },
    channels: { type: 'string', default: '320' },
    pieces: { type: 'string', default: '1,8,32' },
    modes: { type: 'string', default: 'split,slice,rows' },
    release: { type: 'string', default: '0,1' },
    tunings: { type: 'string', default: 'studio;studio,arena=kNextPowerOfTwo' },
    runs: { type: 'string', default: '3' },
    'deadline-s': { type: 'string', default: '1e9' },
  },
});
const provider = a.ep as Provider;
const dtype = provider === 'cpu' ? 'float32' : 'float16';
const [N, C, runs] = [Number(a.tokens), Number(a.channels), Number(a.runs)];
const deadline = performance.now() + Number(a['deadline-s']) * 1000;
const rng = new Uniform(15);

function weight(g: Graph, shape: number[], scale: number): T {
  const f32 = rng.fill(new Float32Array(shape.reduce((p, q) => p * q, 1)), scale);
  return dtype === 'float16' ? g.constant('float16', shape, f32ToF16(f32), 'w') : g.constant('float32', shape, f32, 'w');
}

/** GEGLU feed-forward + residual on [1, n, C], the CUDA provider's fused kernels where it has them. */
function feedForward(g: Graph, w: { w1: T; b1: T; w2: T; b2: T }, x: T, residual: T): T {
  const projected = op.matmul(x, w.w1);
  if (provider === 'cuda') return op.biasAdd(op.matmul(op.biasSplitGelu(projected, w.b1), w.w2), w.b2, residual);
  const [hidden, gate] = op.split(op.add(projected, w.b1), -1, [4 * C, 4 * C]);
  return op.add(op.add(op.matmul(op.mul(hidden, op.gelu(gate)), w.w2), w.b2), residual);
}

function build(mode: Mode, pieces: number): Graph {
  const g = new Graph(`ff-${mode}-${pieces}`);
  const seed = g.input('seed', dtype, [1, 1, C]);
  const ramp = op.cast(op.reshape(op.mul(op.cast(g.constant('int64', [N], new BigInt64Array(N).map((_, i) => BigInt(i % 977)), 'ramp'), 'float32'), 1 / 977), [1, N, 1]), dtype);
  const x = op.add(op.expand(seed, [1, N, C]), ramp);
  const w = { w1: weight(g, [C, 8 * C], C ** -0.5), b1: weight(g, [8 * C], 0.1), w2: weight(g, [4 * C, C], (4 * C) ** -0.5), b2: weight(g, [C], 0.1) };
  const ff = (p: T) => feedForward(g, w, p, p);
  let y: T;
  if (mode === 'none') y = x;
  else if (pieces === 1) y = ff(x);
  else if (mode === 'split') y = op.inPieces([x], 1, pieces, ([p]) => ff(p));
  else if (mode === 'slice') {
    const bound = (i: number) => Math.floor((N * i) / pieces);
    y = op.concat(Array.from({ length: pieces }, (_, i) => ff(op.slice(x, [1], [bound(i)], [bound(i + 1)]))), 1);
  } else {
    const parts = op.split(op.reshape(x, [pieces, N / pieces, C]), 0, Array(pieces).fill(1));
    y = op.reshape(op.concat(parts.map(ff), 0), [1, N, C]);
  }
  g.output(op.cast(op.reduceSum(y, [1], false), 'float32'), 'sum');
  return g;
}

console.log(`| CUDA tuning | graph | pieces | arena back after each run | session s | first run ms | ms per run (median of ${runs}) |`);
console.log('| --- | --- | ---: | --- | ---: | ---: | ---: |');
const modes = a.modes.split(',') as Mode[];
const seedData = rng.fill(new Float32Array(C), 1);
const feeds = { seed: dtype === 'float16' ? f16Tensor(f32ToF16(seedData), [1, 1, C]) : tensor(seedData, [1, 1, C]) };
const rows: [string, Mode, number, boolean][] = [];
for (const tuning of a.tunings.split(';')) {
  rows.push([tuning, 'none', 1, false]);
  for (const release of a.release.split(',').map((r) => r === '1')) {
    for (const pieces of a.pieces.split(',').map(Number)) for (const mode of modes) if (pieces > 1 || mode === modes[0]) rows.push([tuning, mode, pieces, release]);
  }
}
for (const [tuning, mode, pieces, release] of rows) {
  if (performance.now() > deadline) {
    console.log(`| ${tuning} | ${mode} | ${pieces} | ${release ? 'yes' : 'no'} | – | – | deadline |`);
    continue;
  }
  if (N % pieces) throw new Error(`--tokens ${N} is not a multiple of ${pieces} pieces`);
  let t = performance.now();
  const session = await Session.create(build(mode, pieces), { providers: [provider], cudaTuning: provider === 'cuda' ? parseCudaTuning(tuning) : undefined });
  const sessionS = (performance.now() - t) / 1000;
  const times: number[] = [];
  for (let r = 0; r <= runs; r++) {
    t = performance.now();
    await session.run(feeds, { releaseArena: release });
    times.push(performance.now() - t);
  }
  await session.release();
  const [first, ...rest] = times;
  const median = rest.sort((p, q) => p - q)[Math.floor(rest.length / 2)];
  console.log(`| ${provider === 'cuda' ? tuning : '–'} | ${mode === 'none' ? 'none (the frame: expand + reduce)' : pieces === 1 ? 'whole' : mode} | ${pieces} | ${release ? 'yes' : 'no'} | ${sessionS.toFixed(2)} | ${first.toFixed(1)} | ${median.toFixed(1)} |`);
}
