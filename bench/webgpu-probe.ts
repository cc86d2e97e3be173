// GPU probe for issue 14 (WebGPU closer to CUDA): what each op kind of an SD 1.5 1024² UNet step costs on
// the WebGPU provider beside the CUDA provider, in which form (attention as MultiHeadAttention at batch 2,
// MultiHeadAttention per image with present outputs — the condition of ORT's WebGPU FlashAttention path —, or
// MatMul+Softmax+MatMul; NCHW or NHWC preferred layout), how far fp16 is from fp32 per op kind, and whether
// AgentSD's UNet builds with every node on WebGPU. A single op's time is (t(R) − t(1)) / (R − 1) over a chain
// of R copies, so the upload and read-back of the feeds drop out.
//
//   npx esbuild bench/webgpu-probe.ts --bundle --platform=node --format=esm --external:onnxruntime-node \
//     --external:sharp --external:koffi --outfile=probe.mjs && node probe.mjs [--eps webgpu,cuda] [--tiny]
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { f32ToF16 } from '../pipelines/io/safetensors.ts';
import { Graph, type T } from '../pipelines/onnx/graph.ts';
import * as op from '../pipelines/onnx/ops.ts';
import { ort, ortErrorReason } from '../pipelines/runtime/session.ts';
import { Uniform } from './lib/random-safetensors.ts';
import { asF32, benchSession, buildRandomUNet, median, relL2, writeRandomModel } from './lib/device-unet.ts';

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const TINY = args.includes('--tiny');
const EP = flag('--ep', 'webgpu');
const PART = flag('--part', 'ops');
/** The UNet part profiles the graph lowered with this set of runtime/lowering.ts (default: as built). */
const LOWERING = flag('--lowering', '');
/** The provider whose lowering to apply (default: the one running; a CPU check of the script names the GPU's). */
const LOWER_FOR = flag('--lower-for', EP);
/** CPU fp32 outputs of each case, shared by the processes of one call (one per provider). */
const REF_DIR = flag('--ref-dir', join(tmpdir(), 'webgpu-probe-ref'));
const DEADLINE = performance.now() + Number(flag('--deadline-s', '50')) * 1000;
const REPEATS = TINY ? 3 : 4;
const RUNS = TINY ? 2 : 5;
const B = 2;
// Spatial side and token counts shrink by 8 in tiny mode (a CPU check of the whole script).
const side = (s: number) => (TINY ? s / 8 : s);

type Dt = 'float32' | 'float16';
type EpOptions = Record<string, unknown>;

interface Case {
  name: string;
  /** Cases computing the same function share one CPU fp32 reference (default: the name). */
  refKey?: string;
  /** Inputs: name → shape; a chain of `repeats` copies of the op maps x to the output. */
  inputs: Record<string, number[]>;
  /** Offset added to the random inputs (activations with a mean, as GroupNorm sees them). */
  offset?: number;
  build(g: Graph, xs: Record<string, T>, dtype: Dt, repeats: number): T;
  /** WebGPU provider option sets to time (default: the provider's defaults only). */
  webgpuVariants?: Record<string, EpOptions>;
}

/** Weights of a probe graph: reseeded per graph, so the timed graph and its fp32 reference hold the same values. */
let rng = new Uniform(1234);
const rand = (n: number, bound: number) => rng.fill(new Float32Array(n), bound);
function constant(g: Graph, dtype: Dt, shape: number[], bound: number): T {
  const data = rand(shape.reduce((a, b) => a * b, 1), bound);
  return dtype === 'float16' ? g.constant('float16', shape, f32ToF16(data), 'w') : g.constant('float32', shape, data, 'w');
}

function chain(x: T, repeats: number, f: (x: T) => T): T {
  for (let i = 0; i < repeats; i++) x = f(x);
  return x;
}

const conv = (c: number, s: number): Case => ({
  name: `Conv 3×3 ${c}→${c} @${side(s)}²`,
  inputs: { x: [B, c, side(s), side(s)] },
  build: (g, { x }, dtype, r) => {
    const w = constant(g, dtype, [c, c, 3, 3], 1 / Math.sqrt(9 * c));
    const bias = constant(g, dtype, [c], 0.01);
    return chain(x, r, (h) => op.conv2d(h, w, bias, { padding: 1 }));
  },
  webgpuVariants: { NCHW: { preferredLayout: 'NCHW' }, NHWC: { preferredLayout: 'NHWC' } },
});

/** GroupNorm(32) + SiLU as the graph builds it today; `fp32` computes the statistics in fp32 (casts around it). */
const groupNorm = (c: number, s: number, fp32: boolean): Case => ({
  name: `GroupNorm+SiLU ${c} @${side(s)}²${fp32 ? ' (fp32 inside)' : ''}`,
  refKey: `GroupNorm+SiLU ${c} @${side(s)}²`,
  inputs: { x: [B, c, side(s), side(s)] },
  offset: 3,
  build: (g, { x }, dtype, r) => {
    const scale = constant(g, dtype, [c], 1);
    const bias = constant(g, dtype, [c], 0.1);
    return chain(x, r, (h) => {
      const inner = fp32 && dtype === 'float16' ? op.cast(h, 'float32') : h;
      const n = op.groupNorm(inner, 32, inner === h ? scale : op.cast(scale, 'float32'), inner === h ? bias : op.cast(bias, 'float32'), 1e-5);
      return op.silu(inner === h ? n : op.cast(n, dtype));
    });
  },
});

const layerNorm = (c: number, tokens: number, fp32: boolean): Case => ({
  name: `LayerNorm ${c} × ${tokens} tokens${fp32 ? ' (fp32 inside)' : ''}`,
  refKey: `LayerNorm ${c} × ${tokens} tokens`,
  inputs: { x: [B, tokens, c] },
  offset: 3,
  build: (g, { x }, dtype, r) => {
    const scale = constant(g, 'float32', [c], 1);
    return chain(x, r, (h) => {
      if (fp32 && dtype === 'float16') return op.cast(op.layerNorm(op.cast(h, 'float32'), scale, undefined, 1e-5), dtype);
      return op.layerNorm(h, dtype === 'float16' ? op.cast(scale, 'float16') : scale, undefined, 1e-5);
    });
  },
});

const linear = (cin: number, cout: number, tokens: number): Case => ({
  name: `MatMul+Add ${cin}→${cout}→${cin} × ${tokens} tokens (two ops)`,
  inputs: { x: [B, tokens, cin] },
  build: (g, { x }, dtype, r) => {
    const w1 = constant(g, dtype, [cin, cout], 1 / Math.sqrt(cin));
    const w2 = constant(g, dtype, [cout, cin], 1 / Math.sqrt(cout));
    const b1 = constant(g, dtype, [cout], 0.01);
    return chain(x, r, (h) => op.matmul(op.add(op.matmul(h, w1), b1), w2));
  },
});

type AttentionForm = 'MHA batch 2' | 'MHA per image + present (flash path)' | 'MatMul+Softmax+MatMul';

function attentionForm(form: AttentionForm, q: T, k: T, v: T, heads: number): T {
  if (form === 'MHA batch 2') return op.multiHeadAttention(q, k, v, heads);
  const [bq, s, c] = [q.dim(0), q.dim(1), q.dim(2)];
  const l = k.dim(1);
  const d = c / heads;
  if (form === 'MatMul+Softmax+MatMul') {
    const qh = op.transpose(op.reshape(q, [bq, s, heads, d]), [0, 2, 1, 3]);
    const kt = op.transpose(op.reshape(k, [bq, l, heads, d]), [0, 2, 3, 1]);
    const vh = op.transpose(op.reshape(v, [bq, l, heads, d]), [0, 2, 1, 3]);
    const p = op.softmax(op.mul(op.matmul(qh, kt), 1 / Math.sqrt(d)));
    return op.reshape(op.transpose(op.matmul(p, vh), [0, 2, 1, 3]), [bq, s, c]);
  }
  const per = (t: T) => op.split(t, 0, Array(bq).fill(1));
  const [qs, ks, vs] = [per(q), per(k), per(v)];
  const outs = qs.map((qi, i) => {
    const present = { dtype: q.dtype, shape: [1, heads, l, d] };
    return q.graph.node('MultiHeadAttention', [qi, ks[i], vs[i]], [{ dtype: q.dtype, shape: [1, s, c] }, present, present], { num_heads: { kind: 'int', value: heads } }, 'com.microsoft')[0];
  });
  return op.concat(outs, 0);
}

const attention = (form: AttentionForm, c: number, tokens: number, context?: number): Case => ({
  name: `${context ? 'cross' : 'self'}-attention ${form}, ${tokens}${context ? `×${context}` : ''} tokens, 8 heads × ${c / 8}`,
  refKey: `${context ? 'cross' : 'self'}-attention ${tokens}x${context ?? tokens} ${c}`,
  inputs: context ? { x: [B, tokens, c], ctx: [B, context, c] } : { x: [B, tokens, c] },
  build: (g, xs, _dtype, r) => chain(xs.x, r, (h) => attentionForm(form, h, xs.ctx ?? h, xs.ctx ?? h, 8)),
});

const FORMS: AttentionForm[] = ['MHA batch 2', 'MHA per image + present (flash path)', 'MatMul+Softmax+MatMul'];
// Attention first: the open question; the deadline cuts from the end. MatMul+Softmax+MatMul over 16K tokens
// (8.6 GB of fp16 scores, beyond some adapters' buffer limits) comes last in case it takes the process down.
const CASES: Case[] = [
  ...FORMS.slice(0, 2).map((f) => attention(f, 320, side(128) ** 2)),
  ...FORMS.map((f) => attention(f, 320, side(128) ** 2, 77)),
  ...FORMS.map((f) => attention(f, 640, side(64) ** 2)),
  ...FORMS.map((f) => attention(f, 1280, side(32) ** 2)),
  groupNorm(320, 128, false), groupNorm(320, 128, true), groupNorm(1280, 32, false), groupNorm(1280, 32, true), groupNorm(640, 64, false),
  conv(320, 128), conv(640, 64), conv(1280, 32),
  layerNorm(320, side(128) ** 2, false), layerNorm(320, side(128) ** 2, true),
  linear(320, 1280, side(128) ** 2),
  attention(FORMS[2], 320, side(128) ** 2),
];

function feedsFor(c: Case, dtype: Dt): Record<string, ort.Tensor> {
  const r = new Uniform(99);
  return Object.fromEntries(Object.entries(c.inputs).map(([name, shape]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = r.fill(new Float32Array(n), 1.7).map((v) => v + (name === 'x' ? c.offset ?? 0 : 0));
    return [name, dtype === 'float16' ? new ort.Tensor('float16', f32ToF16(data), shape) : new ort.Tensor('float32', data, shape)];
  }));
}

function graphFor(c: Case, dtype: Dt, repeats: number): Graph {
  const g = new Graph('probe');
  rng = new Uniform(1234);
  const xs = Object.fromEntries(Object.entries(c.inputs).map(([name, shape]) => [name, g.input(name, dtype, shape)]));
  g.output(c.build(g, xs, dtype, repeats), 'out');
  return g;
}

/** Median ms of one run of the chain of `repeats` ops, and the output of the first run. */
async function timeChain(c: Case, ep: string, dtype: Dt, repeats: number, epOptions?: EpOptions, runs = RUNS): Promise<{ ms: number; out: Float32Array; note: string }> {
  const { session, note } = await benchSession(graphFor(c, dtype, repeats), ep, { epOptions, lowering: false });
  try {
    const feeds = feedsFor(c, dtype);
    const out = asF32((await session.run(feeds)).out);
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await session.run(feeds);
      times.push(performance.now() - t0);
    }
    return { ms: runs ? median(times) : NaN, out, note };
  } finally {
    await session.release();
  }
}

/** The case's CPU fp32 output, computed once per call and kept in REF_DIR for the other provider's process. */
async function reference(c: Case): Promise<Float32Array> {
  const file = join(REF_DIR, `${(c.refKey ?? c.name).replace(/[^A-Za-z0-9]+/g, '_')}.f32`);
  if (existsSync(file)) {
    const b = readFileSync(file);
    return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  }
  const { out } = await timeChain(c, 'cpu', 'float32', 1, undefined, 0);
  mkdirSync(REF_DIR, { recursive: true });
  writeFileSync(file, out);
  return out;
}

async function probeCase(c: Case): Promise<string[]> {
  const rows: string[] = [];
  const ref = await reference(c);
  const dtype: Dt = EP === 'cpu' ? 'float32' : 'float16';
  const variants = EP === 'webgpu' && c.webgpuVariants ? Object.entries(c.webgpuVariants) : [['', {}] as [string, EpOptions]];
  for (const [label, opts] of variants) {
    if (performance.now() > DEADLINE) break;
    try {
      const one = await timeChain(c, EP, dtype, 1, opts);
      const many = await timeChain(c, EP, dtype, REPEATS, opts);
      const perOp = (many.ms - one.ms) / (REPEATS - 1);
      rows.push(`| ${c.name} | ${EP}${label && ` ${label}`} | ${dtype} | ${perOp.toFixed(3)} | ${one.ms.toFixed(2)} | ${relL2(one.out, ref).toExponential(2)} | ${[one.note, many.note].filter(Boolean).join('; ')} |`);
    } catch (e) {
      rows.push(`| ${c.name} | ${EP}${label && ` ${label}`} | ${dtype} | – | – | – | failed: ${ortErrorReason(e).slice(0, 160)} |`);
      if (/adapter/i.test(String(e))) throw new Error(`no ${EP} adapter: ${ortErrorReason(e)}`);
    }
  }
  return rows;
}

async function opsPart(): Promise<void> {
  console.log(`\n## Single ops on ${EP}, batch ${B}: ms per op = (t(${REPEATS} chained) − t(1)) / ${REPEATS - 1}, median of ${RUNS}; rel-L2 of one op vs CPU fp32\n`);
  console.log('| op | provider | dtype | ms per op | ms, 1 op with I/O | rel-L2 vs CPU fp32 | note |');
  console.log('| --- | --- | --- | ---: | ---: | ---: | --- |');
  for (const c of CASES) {
    if (performance.now() > DEADLINE) {
      console.log(`| (deadline: stopped before ${c.name}) | | | | | | |`);
      return;
    }
    for (const row of await probeCase(c)) console.log(row);
  }
}

/** Whether each attention variant's UNet builds with CPU fallback forbidden. */
async function placement(dir: string): Promise<void> {
  console.log(`\n## UNet node placement on ${EP} (SD 1.5 layout, narrow random weights, fp16, disable_cpu_ep_fallback=1, graph ${LOWERING ? `lowered, ${LOWERING} set` : 'as built'})\n`);
  for (const name of ['agent', 'agent-late', 'softmax'] as const) {
    try {
      writeRandomModel(dir, 'narrow');
      const { graph } = buildRandomUNet(dir, 'narrow', name, TINY ? 256 : 512, 'float16');
      const { session, note } = await benchSession(graph, EP, { lowering: LOWERING || false, lowerFor: LOWER_FOR });
      await session.release();
      console.log(`- ${name}: ${graph.summary().nodes} nodes; ${note || 'every node on the provider'}`);
    } catch (e) {
      console.log(`- ${name}: failed: ${ortErrorReason(e).slice(0, 300)}`);
    }
  }
}

/** ORT's profiler over `runs` steps of the SD 1.5 UNet: time per step by event kind and op or program. */
async function unetProfile(dir: string, size: number, runs: number): Promise<void> {
  const model = TINY ? 'narrow' : 'sd15';
  writeRandomModel(dir, model);
  const { graph, feeds } = buildRandomUNet(dir, model, 'softmax', size, 'float16');
  const prefix = join(dir, 'profile');
  const { session, note, lowered } = await benchSession(graph, EP, { profilePrefix: prefix, lowering: LOWERING || false, lowerFor: LOWER_FOR });
  await session.run(feeds);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await session.run(feeds);
    times.push(performance.now() - t0);
  }
  session.endProfiling();
  await session.release();
  const graphLabel = LOWERING ? `lowered, ${LOWERING} set (${Object.entries(lowered).map(([k, n]) => `${n}× ${k}`).join(', ')})` : 'as built';
  console.log(`\n## SD 1.5 UNet ${size}², fp16, batch ${B}, ${EP}, graph ${graphLabel}: ${median(times).toFixed(1)} ms per step with the profiler on (median of ${runs})${note ? `; ${note}` : ''}\n`);
  const file = readdirSync(dir).find((f) => f.startsWith('profile') && f.endsWith('.json'));
  if (!file) return void console.log('(no profile file written)');
  const events = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { cat?: string; name?: string; dur?: number; args?: Record<string, string> }[];
  const by = new Map<string, { us: number; n: number }>();
  for (const e of events) {
    if (e.cat === 'Session') continue;
    const key = e.cat === 'Node' ? `Node ${e.name?.endsWith('_kernel_time') ? e.args?.op_name ?? '?' : (e.name ?? '').replace(/^.*_/, '')}` : `${e.cat} ${(e.name ?? '').split('&').pop()?.replace(/\d+/g, '#')}`;
    const v = by.get(key) ?? { us: 0, n: 0 };
    v.us += e.dur ?? 0;
    v.n++;
    by.set(key, v);
  }
  const steps = runs + 1;
  console.log(`${events.length} profiler events over ${steps} steps (the first is the warm-up); ms per step by event kind (Node = host-side kernel time; Kernel/Api = device events where the provider records them):\n`);
  console.log('| event kind | name | ms per step | events per step |');
  console.log('| --- | --- | ---: | ---: |');
  for (const [key, v] of [...by].sort((a, b) => b[1].us - a[1].us).slice(0, 40)) {
    const [cat, ...rest] = key.split(' ');
    console.log(`| ${cat} | ${rest.join(' ')} | ${(v.us / 1000 / steps).toFixed(2)} | ${(v.n / steps).toFixed(1)} |`);
  }
  const sample = events.find((e) => e.cat !== 'Node' && e.cat !== 'Session');
  if (sample) console.log(`\nOne device event as written: \`${JSON.stringify(sample).slice(0, 300)}\``);
}

console.log(`# WebGPU probe (issue 14), part ${PART}: ORT ${ort.env.versions.common}, provider ${EP}${TINY ? ', TINY sizes' : ''}, ${new Date().toISOString()}`);
if (PART === 'ops') await opsPart();
else {
  // --work: a folder that may already hold the random weights (bench/webgpu-rows.ts writes the same files).
  const work = flag('--work', '');
  const dir = work || mkdtempSync(join(tmpdir(), 'webgpu-probe-'));
  try {
    await placement(dir);
    await unetProfile(dir, TINY ? 256 : 1024, Number(flag('--runs', TINY ? '1' : '3')));
  } finally {
    if (!work) rmSync(dir, { recursive: true, force: true });
  }
}
