// Issue 14's WebGPU rows on the GPU machine: SD UNet steps (random weights, batch 2) on WebGPU with the graph
// lowered for it (pipelines/runtime/lowering.ts) and as built, beside the CUDA provider's fp16 step (fused
// kernels) in the same call, each output against the CUDA fp32 step's. One process per provider shares a work
// folder: `weights` writes the models, `run` times rows and keeps each output, `report` prints the table.
//
//   node rows.mjs weights --work W [--models sd15,sdxl]
//   node rows.mjs run --ep webgpu|cuda|cpu --work W --rows sd15:softmax:1024:lowered:fp16,… [--deadline-s N] [--label NAME]
//   node rows.mjs report --work W
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ort, ortErrorReason } from '../pipelines/runtime/session.ts';
import { asF32, benchSession, buildRandomUNet, median, relL2, writeRandomModel, type ModelName, type VariantName } from './lib/device-unet.ts';

const [part = 'report', ...rest] = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = rest.indexOf(name);
  return i >= 0 ? rest[i + 1] : fallback;
};
const WORK = flag('--work', '/tmp/webgpu-rows');
const EP = flag('--ep', 'webgpu');
/** The provider name rows are recorded under (a CPU check of the script stands `cpu` in for `cuda`). */
const LABEL = flag('--label', EP);
const DEADLINE = performance.now() + Number(flag('--deadline-s', '100')) * 1000;
const STEPS = Number(flag('--steps', '3'));

/**
 * model:variant:size:graph:dtype[:layout] — graph `lowered` (the studio's session: lowering.ts's default set),
 * `fast` (its fast set: MatMul/Conv left in fp16) or `built` (no rewrites); layout: the WebGPU provider's preferredLayout.
 */
interface RowSpec {
  model: ModelName;
  variant: VariantName;
  size: number;
  graph: 'lowered' | 'fast' | 'built';
  dtype: 'float16' | 'float32';
  layout?: 'NCHW' | 'NHWC';
}

interface RowResult extends RowSpec {
  ep: string;
  ort: string;
  msPerStep?: number;
  sessionS?: number;
  note: string;
}

function parseRow(text: string): RowSpec {
  const [model, variant, size, graph, dtype, layout] = text.split(':');
  if (!['sd15', 'sdxl', 'narrow'].includes(model)) throw new Error(`row "${text}": model must be sd15, sdxl or narrow`);
  if (!['softmax', 'linfusion', 'agent', 'agent-late'].includes(variant)) throw new Error(`row "${text}": variant must be softmax, linfusion, agent or agent-late`);
  if (!(Number(size) > 0 && Number(size) % 64 === 0)) throw new Error(`row "${text}": size must be a multiple of 64`);
  if (graph !== 'lowered' && graph !== 'fast' && graph !== 'built') throw new Error(`row "${text}": graph must be lowered, fast or built`);
  if (dtype !== 'fp16' && dtype !== 'fp32') throw new Error(`row "${text}": dtype must be fp16 or fp32`);
  if (layout !== undefined && layout !== 'NCHW' && layout !== 'NHWC') throw new Error(`row "${text}": layout must be NCHW or NHWC`);
  return { model: model as ModelName, variant: variant as VariantName, size: Number(size), graph, dtype: dtype === 'fp16' ? 'float16' : 'float32', layout };
}

const rowKey = (r: RowSpec & { ep: string }) => `${r.model}-${r.variant}-${r.size}-${r.ep}-${r.graph}-${r.dtype}${r.layout ? `-${r.layout}` : ''}`;

async function runRow(spec: RowSpec): Promise<RowResult> {
  const result: RowResult = { ...spec, ep: LABEL, ort: ort.env.versions.common, note: '' };
  // CUDA fp16 is the studio's CUDA graph (fused kernels); its fp32 row is the plain reference.
  const fused = EP === 'cuda' && spec.dtype === 'float16';
  const { graph, feeds } = buildRandomUNet(WORK, spec.model, spec.variant, spec.size, spec.dtype, fused);
  let t0 = performance.now();
  const { session, note, lowered } = await benchSession(graph, EP, {
    lowering: spec.graph === 'built' ? false : spec.graph === 'lowered' ? 'default' : 'fast',
    lowerFor: LABEL,
    epOptions: spec.layout ? { preferredLayout: spec.layout } : undefined,
  });
  result.sessionS = (performance.now() - t0) / 1000;
  result.note = [note, Object.entries(lowered).map(([k, n]) => `${n}× ${k}`).join(', '), fused ? 'fused CUDA kernels' : ''].filter(Boolean).join('; ');
  try {
    const out = asF32((await session.run(feeds)).model_output);
    writeFileSync(join(WORK, `out-${rowKey(result)}.f32`), out);
    const times: number[] = [];
    for (let i = 0; i < STEPS && performance.now() < DEADLINE; i++) {
      t0 = performance.now();
      await session.run(feeds);
      times.push(performance.now() - t0);
    }
    if (times.length) result.msPerStep = median(times);
  } finally {
    await session.release();
  }
  return result;
}

function readOutput(key: string): Float32Array | undefined {
  const file = join(WORK, `out-${key}.f32`);
  if (!existsSync(file)) return undefined;
  const b = readFileSync(file);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
}

function report(): void {
  const file = join(WORK, 'rows.jsonl');
  const rows = existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as RowResult) : [];
  console.log('| model | variant | size | provider (ORT) | graph | dtype | ms/step | ÷ CUDA fp16 | rel-L2 vs CUDA fp32 | vs CUDA fp16 | session s | note |');
  console.log('| --- | --- | --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const r of rows) {
    const same = (o: RowResult) => o.model === r.model && o.variant === r.variant && o.size === r.size;
    const cuda = rows.find((o) => same(o) && o.ep === 'cuda' && o.dtype === 'float16');
    const cudaOut = cuda && readOutput(rowKey(cuda));
    const refRow = rows.find((o) => same(o) && o.ep === 'cuda' && o.dtype === 'float32');
    const out = readOutput(rowKey(r));
    const ref = refRow && readOutput(rowKey(refRow));
    const ratio = r.msPerStep && cuda?.msPerStep && r !== cuda ? `${(r.msPerStep / cuda.msPerStep).toFixed(2)}×` : '–';
    const err = out && ref && r !== refRow ? relL2(out, ref).toExponential(2) : '–';
    const err16 = out && cudaOut && r !== cuda ? relL2(out, cudaOut).toExponential(2) : '–';
    console.log(`| ${r.model} | ${r.variant} | ${r.size}² | ${r.ep} (${r.ort}) | ${r.graph}${r.layout ? ` ${r.layout}` : ''} | ${r.dtype === 'float16' ? 'fp16' : 'fp32'} | ${r.msPerStep?.toFixed(1) ?? '–'} | ${ratio} | ${err} | ${err16} | ${r.sessionS?.toFixed(1) ?? '–'} | ${r.note} |`);
  }
}

if (part === 'weights') {
  for (const m of flag('--models', 'sd15').split(',')) {
    const t0 = performance.now();
    writeRandomModel(WORK, m as ModelName);
    console.log(`${m}: random weights in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
} else if (part === 'run') {
  for (const text of flag('--rows', '').split(',').filter(Boolean)) {
    const spec = parseRow(text);
    if (performance.now() > DEADLINE) {
      console.log(`deadline: ${text} and later rows not run`);
      break;
    }
    let r: RowResult;
    try {
      r = await runRow(spec);
    } catch (e) {
      r = { ...spec, ep: LABEL, ort: ort.env.versions.common, note: `failed: ${ortErrorReason(e).slice(0, 200)}` };
    }
    appendFileSync(join(WORK, 'rows.jsonl'), `${JSON.stringify(r)}\n`);
    console.log(`${rowKey(r)}: ${r.msPerStep?.toFixed(1) ?? '–'} ms/step, session ${r.sessionS?.toFixed(1) ?? '–'} s ${r.note}`);
  }
} else report();
