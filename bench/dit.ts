// DiT-XL/2-sized benchmark: random weights written to a temporary safetensors file, then graph build,
// session creation and time per step on one execution provider; with --torch, the same weights and
// inputs through bench/dit_torch.py on the same machine, as a ratio and an output agreement check.
//
//   npx tsx bench/dit.ts [--ep cpu|webgpu] [--dtype float32|float16] [--steps N] [--depth N] [--torch]
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { SafetensorsFile, f32ToF16, writeSafetensors, type SafetensorsDType } from '../pipelines/io/safetensors.ts';
import { DIT_PRESETS, ditTensorShapes, parseDiTConfig, type DiTConfig } from '../pipelines/models/dit/config.ts';
import { sincosPosEmbed2d } from '../pipelines/models/dit/embeddings.ts';
import { buildDiTGraph } from '../pipelines/models/dit/model.ts';
import { Session, ort, tensor, type Provider } from '../pipelines/runtime/session.ts';
import { relL2 } from '../test/fixtures.ts';
import { Uniform } from './lib/random-safetensors.ts';
import { allFinite } from '../pipelines/runtime/result-checks.ts';

const { values: args } = parseArgs({
  options: {
    ep: { type: 'string', default: 'cpu' },
    dtype: { type: 'string', default: 'float32' },
    steps: { type: 'string', default: '5' },
    depth: { type: 'string', default: String(DIT_PRESETS['DiT-XL/2'].depth) },
    batch: { type: 'string', default: '2' },
    latent: { type: 'string', default: '32' },
    weights: { type: 'string' },
    torch: { type: 'boolean', default: false },
    python: { type: 'string', default: 'python3' },
  },
});

const ep = args.ep as Provider;
if (!['cpu', 'webgpu', 'cuda', 'dml', 'coreml'].includes(ep)) throw new Error(`--ep ${ep}: use cpu or webgpu (or cuda, dml, coreml where built)`);
const dtype = args.dtype === 'float16' ? 'float16' : args.dtype === 'float32' ? 'float32' : undefined;
if (!dtype) throw new Error(`--dtype ${args.dtype}: use float32 or float16`);
const intArg = (name: string, v: string | undefined) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer (got ${v})`);
  return n;
};
const steps = intArg('steps', args.steps);
const batch = intArg('batch', args.batch);
const latent = intArg('latent', args.latent);
const cfg: DiTConfig = parseDiTConfig({ ...DIT_PRESETS['DiT-XL/2'], depth: intArg('depth', args.depth), input_size: latent }, 'bench');

/** Scale per tensor: ~1/sqrt(fan-in) for weights, small biases, and small adaLN so 28 blocks stay finite in fp16. */
function scaleFor(name: string, shape: number[]): number {
  if (name.endsWith('.bias')) return 0.02;
  if (name.includes('embedding_table')) return 1;
  const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
  return (name.includes('adaLN') ? 0.1 : 1) / Math.sqrt(fanIn);
}

/** Streams random weights to `path` tensor by tensor (a 2.7 GB file never sits in memory whole). */
function writeRandomWeights(path: string, c: DiTConfig, stDtype: SafetensorsDType): void {
  const shapes = ditTensorShapes(c);
  const names = Object.keys(shapes).sort();
  const bytesPer = stDtype === 'F16' ? 2 : 4;
  const header: Record<string, unknown> = { __metadata__: { note: 'random weights for bench/dit.ts' } };
  let offset = 0;
  for (const n of names) {
    const len = shapes[n].reduce((a, b) => a * b, 1) * bytesPer;
    header[n] = { dtype: stDtype, shape: shapes[n], data_offsets: [offset, offset + len] };
    offset += len;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, prefix);
    writeSync(fd, json);
    const rand = new Uniform(1234);
    const grid = c.input_size / c.patch_size;
    for (const n of names) {
      const count = shapes[n].reduce((a, b) => a * b, 1);
      let data: Float32Array;
      if (n === 'pos_embed') data = sincosPosEmbed2d(c.hidden_size, grid, grid);
      else data = rand.fill(new Float32Array(count), scaleFor(n, shapes[n]));
      const bytes = stDtype === 'F16' ? f32ToF16(data) : data;
      writeSync(fd, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    }
  } finally {
    closeSync(fd);
  }
}

const ms = (t0: number) => performance.now() - t0;
const rows: [string, string][] = [];
const row = (what: string, value: string) => {
  rows.push([what, value]);
  console.error(`  ${what}: ${value}`);
};

const work = mkdtempSync(join(tmpdir(), 'studio-bench-dit-'));
const stDtype: SafetensorsDType = dtype === 'float16' ? 'F16' : 'F32';
const weightsPath = resolve(args.weights ?? join(work, `dit-random-${stDtype}.safetensors`));
try {
  row('model', `DiT d=${cfg.depth} hidden=${cfg.hidden_size} heads=${cfg.num_heads} patch=${cfg.patch_size}, latent ${latent}×${latent} (${(latent / cfg.patch_size) ** 2} tokens), batch ${batch}`);
  row('provider / dtype', `${ep} / ${dtype}`);
  if (!existsSync(weightsPath)) {
    const t0 = performance.now();
    writeRandomWeights(weightsPath, cfg, stDtype);
    row('random weights written', `${(ms(t0) / 1000).toFixed(1)} s (${stDtype})`);
  }

  let t0 = performance.now();
  const graph = buildDiTGraph(SafetensorsFile.open(weightsPath), cfg, { batch, height: latent, width: latent, dtype });
  const buildMs = ms(t0);
  const summary = graph.summary();
  row('graph build', `${buildMs.toFixed(1)} ms (${summary.nodes} nodes, ${(summary.parameters / 1e6).toFixed(1)} M parameters)`);
  t0 = performance.now();
  graph.serialize();
  row('graph serialize', `${ms(t0).toFixed(1)} ms`);

  t0 = performance.now();
  const session = await Session.create(graph, { providers: [ep] });
  row('session creation', `${(ms(t0) / 1000).toFixed(2)} s (provider used: ${session.provider})`);

  const x = new Uniform(99).fill(new Float32Array(batch * 4 * latent * latent), 1.7);
  const t = Float32Array.from({ length: batch }, (_, i) => [999, 500, 250, 1][i % 4]);
  const y = BigInt64Array.from({ length: batch }, (_, i) => BigInt((i * 207) % cfg.num_classes));
  const feeds = { x: tensor(x, [batch, 4, latent, latent]), t: tensor(t, [batch]), y: new ort.Tensor('int64', y, [batch]) };

  t0 = performance.now();
  const first = (await session.run(feeds)).out.data as Float32Array;
  row('first step (warm-up)', `${ms(t0).toFixed(1)} ms`);
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    t0 = performance.now();
    await session.run(feeds);
    times.push(ms(t0));
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  row('time per step', `median ${median.toFixed(1)} ms, min ${times[0].toFixed(1)} ms over ${steps} steps`);
  if (!allFinite(first)) row('warning', 'output has non-finite values');
  await session.release();

  if (args.torch) {
    const inputs = join(work, 'inputs.safetensors');
    const outPath = join(work, 'torch-out.safetensors');
    writeSafetensors(inputs, {
      x: { dtype: 'F32', shape: [batch, 4, latent, latent], data: x },
      t: { dtype: 'F32', shape: [batch], data: t },
      y: { dtype: 'I64', shape: [batch], data: y },
    });
    const script = resolve(import.meta.dirname, 'dit_torch.py');
    const r = spawnSync(args.python, [script, '--weights', weightsPath, '--inputs', inputs, '--out', outPath, '--dtype', dtype,
      '--depth', String(cfg.depth), '--steps', String(Math.max(steps, 10))], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    const line = r.stdout.trim().split('\n').at(-1) ?? '';
    if (r.status !== 0 || !line.startsWith('{')) throw new Error(`dit_torch.py failed (status ${r.status}): ${r.stdout}`);
    const torch = JSON.parse(line) as { device: string; median_ms: number; min_ms: number; load_s: number };
    row('PyTorch', `${torch.device}: median ${torch.median_ms.toFixed(2)} ms, min ${torch.min_ms.toFixed(2)} ms per step (weights load ${torch.load_s.toFixed(1)} s)`);
    row(`ratio ${ep}/PyTorch`, `${(median / torch.median_ms).toFixed(2)}× (median per step)`);
    const ref = SafetensorsFile.open(outPath).readFloat32('out');
    row(`output rel-L2 ${ep} vs PyTorch`, relL2(first, ref).toExponential(2));
  }
} finally {
  rmSync(work, { recursive: true, force: true }); // a --weights file lives elsewhere and is kept
}

const width = Math.max(...rows.map(([w]) => w.length));
console.log(`\n| ${'what'.padEnd(width)} | value |\n| ${'-'.repeat(width)} | --- |`);
for (const [w, v] of rows) console.log(`| ${w.padEnd(width)} | ${v} |`);
