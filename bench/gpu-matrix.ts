// The GPU matrix: SD 1.5 and SDXL UNets (random weights, batch 2) × attention variants × 512²…2048² ×
// providers × float types, beside diffusers (PyTorch fp16, SDPA) in the same call, and a whole SD 1.5 image
// against diffusers' pipeline; writes bench/results/DATE-gpu-matrix.{md,json,png}.
//
//   npx tsx bench/gpu-matrix.ts [--models sd15,sdxl] [--providers cuda,webgpu,cpu] [--budget-s 420]
//        [--cuda-entry FILE] [--tokenizer DIR] [--python python3] [--work DIR] [--out bench/results]
//   npx tsx bench/gpu-matrix.ts --specs-only --work DIR    only DIR/specs.json (configs and LinFusion layouts for `make`)
//   npx tsx bench/gpu-matrix.ts --tiny ../shared/fixtures --providers cpu    a CPU check of the script: the fixtures' tiny
//        SD 1.5 / SDXL UNets at 64²/128²/256², random LinFusion modules, no PyTorch
// Runs on the GPU machine as an esbuild bundle (bench/NOTES.md says how): PyTorch makes the random models with
// diffusers' own classes (bench/gpu_matrix_torch.py), each of our configurations runs in its own child process
// (CUDA ones through --cuda-entry, a copy of this bundle beside the onnxruntime-node that has the CUDA
// provider), and GPU memory is read from one nvidia-smi log for every process. Rows run most-needed first
// and stop when --budget-s is spent; whatever ran is written.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { SafetensorsFile, writeSafetensors } from '../pipelines/io/safetensors.ts';
import { parseUNetConfig } from '../pipelines/models/unet/config.ts';
import type { Provider } from '../pipelines/runtime/session.ts';
import { relL2 } from '../test/fixtures.ts';
import { GpuMemoryLog } from './lib/gpu-memory-log.ts';
import { MODELS, SIZES, TORCH_VARIANTS, plan, rowKey, stepsFor, type ModelName } from './lib/gpu-matrix-plan.ts';
import { writeReport, type MeasuredRow, type Report, type TorchRow } from './lib/matrix-report.ts';
import { Uniform, writeRandomLinFusion } from './lib/random-safetensors.ts';
import { BATCH, runConfiguration, type RunResult, type RunSpec } from './lib/unet-run.ts';
import { conditioningWidths, linfusionModules } from './lib/unet-tensors.ts';
import { wholeImage, type ImageResult, type ImageSpec } from './lib/whole-image.ts';

const { values: args } = parseArgs({
  options: {
    models: { type: 'string', default: 'sd15,sdxl' },
    providers: { type: 'string', default: 'cuda,webgpu,cpu' },
    'budget-s': { type: 'string', default: '420' },
    'cuda-tuning': { type: 'string', default: 'studio' },
    'cuda-entry': { type: 'string' },
    tokenizer: { type: 'string' },
    python: { type: 'string', default: 'python3' },
    'torch-script': { type: 'string', default: 'bench/gpu_matrix_torch.py' },
    work: { type: 'string', default: join(tmpdir(), 'studio-gpu-matrix') },
    out: { type: 'string', default: 'bench/results' },
    child: { type: 'string' },
    'image-child': { type: 'string' },
    'specs-only': { type: 'boolean', default: false },
    tiny: { type: 'string' },
  },
});

if (args.child) {
  console.log(JSON.stringify(await runConfiguration(JSON.parse(args.child) as RunSpec)));
  process.exit(0);
}
if (args['image-child']) {
  console.log(JSON.stringify(await wholeImage(JSON.parse(args['image-child']) as ImageSpec)));
  process.exit(0);
}

const started = performance.now();
const budgetS = Number(args['budget-s']);
if (!(budgetS > 0)) throw new Error(`--budget-s ${args['budget-s']} must be a positive number of seconds`);
const elapsedS = () => (performance.now() - started) / 1000;
const models = args.models.split(',').map((m) => {
  if (!(m in MODELS)) throw new Error(`--models: "${m}" is not one of ${Object.keys(MODELS).join(', ')}`);
  return m as ModelName;
});
// --tiny FIXTURES: the tiny UNets of the test fixtures at an eighth of the sizes, to check the script on a CPU.
const fixtureUnet = (m: ModelName) => join(resolve(args.tiny ?? ''), m === 'sd15' ? 'sd15-tiny/unet' : 'sdxl-tiny/unet');
const unetConfigs: Record<ModelName, Record<string, unknown>> = args.tiny
  ? { sd15: JSON.parse(readFileSync(join(fixtureUnet('sd15'), 'config.json'), 'utf8')), sdxl: JSON.parse(readFileSync(join(fixtureUnet('sdxl'), 'config.json'), 'utf8')) }
  : MODELS;
const sizes = args.tiny ? SIZES.map((s) => s / 8) : SIZES;
const providers = args.providers.split(',') as Provider[];
const work = resolve(args.work);
mkdirSync(work, { recursive: true });
const log = (s: string) => console.error(`[${elapsedS().toFixed(0)} s] ${s}`);
const setup: string[] = [];

// --- models (PyTorch makes them with diffusers' classes), inputs ----------------------------------------
const specsFile = join(work, 'specs.json');
writeFileSync(specsFile, JSON.stringify({
  unets: unetConfigs,
  linfusion: Object.fromEntries(models.map((m) => [m, linfusionModules(parseUNetConfig(unetConfigs[m], m))])),
}));
if (args['specs-only']) process.exit(0);
const pythonEnv = { ...process.env, PYTHONUNBUFFERED: '1' };
const torchScript = resolve(args['torch-script']);
const unetDir = (m: ModelName) => join(work, m === 'sd15' ? 'sd15/unet' : 'sdxl-unet');
if (args.tiny && !existsSync(join(work, 'MADE'))) {
  // PyTorch's `make` in small: the fixtures' UNets, random LinFusion modules (no pipeline: the image needs CUDA).
  for (const m of models) {
    cpSync(fixtureUnet(m), unetDir(m), { recursive: true });
    writeRandomLinFusion(join(work, `linfusion-${m}`), parseUNetConfig(unetConfigs[m], m), 'F32', 4321);
  }
  writeFileSync(join(work, 'MADE'), 'tiny\n');
}
if (!existsSync(join(work, 'MADE'))) {
  if (!args.tokenizer) throw new Error('--tokenizer DIR (a CLIP tokenizer folder: vocab.json, merges.txt) is needed to make the SD 1.5 pipeline');
  const t0 = performance.now();
  const made = spawnSync(args.python, [torchScript, 'make', '--out', work, '--tokenizer', resolve(args.tokenizer), '--linfusion-specs', specsFile], { stdio: 'inherit', env: pythonEnv });
  if (made.status !== 0) throw new Error(`making the random models failed (exit ${made.status})`);
  setup.push(`random models made by diffusers/transformers on the GPU in ${((performance.now() - t0) / 1000).toFixed(0)} s (fp16 safetensors)`);
}
for (const m of models) {
  for (const size of sizes) {
    const latent = size / 8;
    const rand = new Uniform(size + (m === 'sdxl' ? 7 : 0));
    const text = conditioningWidths(parseUNetConfig(unetConfigs[m], m));
    const inputs: Parameters<typeof writeSafetensors>[1] = {
      sample: { dtype: 'F32', shape: [BATCH, 4, latent, latent], data: rand.fill(new Float32Array(BATCH * 4 * latent * latent), 1.7) },
      timestep: { dtype: 'F32', shape: [BATCH], data: Float32Array.of(999, 500) },
      encoder_hidden_states: { dtype: 'F32', shape: [BATCH, 77, text.width], data: rand.fill(new Float32Array(BATCH * 77 * text.width), 1.7) },
    };
    if (text.pooled) {
      inputs.text_embeds = { dtype: 'F32', shape: [BATCH, text.pooled], data: rand.fill(new Float32Array(BATCH * text.pooled), 1.7) };
      inputs.time_ids = { dtype: 'F32', shape: [BATCH, text.timeIds], data: Float32Array.from({ length: BATCH * text.timeIds }, (_, i) => [size, size, 0, 0, size, size][i % 6]) };
    }
    writeSafetensors(join(work, `inputs-${m}-${size}.safetensors`), inputs);
  }
}

// --- GPU memory log and the idle reading -------------------------------------------------------------------
const memory = GpuMemoryLog.start(join(work, 'gpu-memory.csv'));
await new Promise((r) => setTimeout(r, 600));
const idleMib = memory ? Math.min(...memory.samples().map((s) => s.mib)) : 0;
const device = spawnSync('nvidia-smi', ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader'], { encoding: 'utf8' }).stdout?.trim() || 'no NVIDIA GPU';
setup.push(`GPU: ${device}; idle memory ${idleMib} MiB before the runs`);

function child<T>(flag: string, spec: object, entry: string, timeoutS: number): { value?: T; error?: string; startMs: number; endMs: number } {
  const startMs = Date.now();
  const r = spawnSync(process.execPath, [entry, flag, JSON.stringify(spec)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: timeoutS * 1000, maxBuffer: 1 << 26 });
  const endMs = Date.now();
  const last = r.stdout?.trim().split('\n').at(-1) ?? '';
  if (r.status === 0 && last.startsWith('{')) return { value: JSON.parse(last) as T, startMs, endMs };
  return { error: r.error?.message ?? (r.signal ? `killed by ${r.signal}` : `exit status ${r.status}`), startMs, endMs };
}
const entryFor = (ep: Provider) => (ep === 'cuda' && args['cuda-entry'] ? resolve(args['cuda-entry']) : process.argv[1]);

const report: Report = { date: new Date().toISOString().slice(0, 10), device, torch: '?', setup, rows: [], torchRows: [], image: {} };
const outDir = resolve(args.out);
mkdirSync(outDir, { recursive: true });
const name = `${report.date}-gpu-matrix`;
const save = () => writeReport(report, outDir, name).catch((e) => log(`report not written: ${(e as Error).message}`));

// Time left for the PyTorch side and the whole images after the first phase (measured on the H200: 50 + 30 s).
const RESERVE_S = 110;
const rows: MeasuredRow[] = plan(models, providers, args['cuda-tuning'], sizes);
report.rows = rows;

function runRow(row: MeasuredRow): void {
  const spec: RunSpec = {
    ep: row.ep, dtype: row.dtype, variant: row.variant, size: row.size, steps: stepsFor(row.ep, row.size),
    weights: join(unetDir(row.model), 'diffusion_pytorch_model.safetensors'), linfusion: join(work, `linfusion-${row.model}`), work,
    unetConfig: unetConfigs[row.model], inputsFile: `inputs-${row.model}-${row.size}.safetensors`, outputFile: `ort-${rowKey(row)}.f32`, fused: row.fused, tuning: row.tuning, profile: row.group === 'profile',
  };
  log(`${rowKey(row)}: running (${spec.steps} timed steps after a warm-up)`);
  const r = child<RunResult>('--child', spec, entryFor(row.ep), row.ep === 'cpu' ? 300 : 120);
  if (r.value) {
    row.gpuGb = row.ep === 'cpu' ? undefined : memory?.peakGb(r.startMs, r.endMs, idleMib);
    row.result = r.value;
    log(`  ${[...r.value.stepsMs].sort((a, b) => a - b)[Math.floor(r.value.stepsMs.length / 2)].toFixed(1)} ms/step, GPU ${row.gpuGb?.toFixed(2) ?? '-'} GiB${r.value.note ? `; ${r.value.note}` : ''}`);
  } else {
    row.skipped = `failed: ${r.error}`;
    log(`  ${row.skipped}`);
  }
}

function runTorch(model: ModelName): void {
  const configs = sizes.flatMap((size) => TORCH_VARIANTS.map((variant) => ({ variant, size, steps: stepsFor('cuda', size) })));
  log(`PyTorch ${model}: ${configs.length} configurations`);
  const r = spawnSync(args.python, [torchScript, 'unet', '--model', model, '--unet', unetDir(model), '--linfusion', join(work, `linfusion-${model}`), '--work', work, '--configs', JSON.stringify(configs)],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], env: pythonEnv, timeout: 240_000, maxBuffer: 1 << 26 });
  const lines = (r.stdout ?? '').trim().split('\n').filter((l) => l.startsWith('{'));
  const summary = lines.length ? (JSON.parse(lines.at(-1)!) as { torch?: string; results?: (TorchRow & { start_ms: number; end_ms: number })[] }) : {};
  const results = summary.results ?? lines.map((l) => JSON.parse(l)).filter((x) => x.variant);
  if (summary.torch) report.torch = summary.torch;
  for (const t of results) {
    t.gpuGb = memory?.peakGb(t.start_ms, t.end_ms, idleMib);
    report.torchRows.push(t);
    log(`  PyTorch ${model} ${t.variant} ${t.size}²: ${t.median_ms?.toFixed(1) ?? t.error} ms, GPU ${t.gpuGb?.toFixed(2) ?? '-'} GiB`);
  }
  if (r.status !== 0) log(`PyTorch ${model} exited with ${r.status ?? r.signal}`);
}

function compareOutputs(): void {
  for (const row of rows) {
    const ours = join(work, `ort-${rowKey(row)}.f32`);
    const theirs = join(work, `torch-${row.model}-${row.variant}-${row.size}.safetensors`);
    if (!row.result || !existsSync(ours) || !existsSync(theirs)) continue;
    row.relL2 = relL2(new Float32Array(new Uint8Array(readFileSync(ours)).buffer), SafetensorsFile.open(theirs).readFloat32('out'));
  }
}

function runImages(): void {
  if (!models.includes('sd15') || !providers.includes('cuda')) return;
  const spec: ImageSpec = { pipeline: join(work, 'sd15'), ep: 'cuda', dtype: 'float16', size: 512, steps: 25, runs: 3, tuning: args['cuda-tuning'] };
  for (const key of ['ort', 'ortBinding'] as const) {
    const run = key === 'ort' ? spec : { ...spec, tuning: undefined };
    log(`whole SD 1.5 image, studio (cuda fp16, ${run.tuning ? `native session, ${run.tuning}` : 'onnxruntime-node'})`);
    let ours = child<ImageResult>('--image-child', run, entryFor('cuda'), 180);
    let note: string | undefined;
    if (!ours.value && run.tuning) {
      // The studio's whole UNet runs a CUDA graph; should that fail here, the image without one still gets a figure.
      log(`  failed (${ours.error}); again with ${run.tuning},graph=0`);
      note = `failed with the CUDA graph (${ours.error}); this is graph=0`;
      ours = child<ImageResult>('--image-child', { ...run, tuning: `${run.tuning},graph=0` }, entryFor('cuda'), 180);
    }
    report.image[key] = ours.value ? { ...ours.value, gpuGb: memory?.peakGb(ours.startMs, ours.endMs, idleMib), note } : undefined;
    if (!ours.value) setup.push(`whole image (studio, ${key}) failed: ${ours.error}`);
  }
  log('whole SD 1.5 image, diffusers');
  const r = spawnSync(args.python, [torchScript, 'image', '--pipeline', spec.pipeline, '--size', '512', '--steps', '25', '--runs', '3'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], env: pythonEnv, timeout: 180_000 });
  const last = (r.stdout ?? '').trim().split('\n').at(-1) ?? '';
  if (r.status === 0 && last.startsWith('{')) {
    const t = JSON.parse(last) as { runs_ms: number[]; load_s: number; start_ms: number; end_ms: number };
    report.image.torch = { ...t, gpuGb: memory?.peakGb(t.start_ms, t.end_ms, idleMib) };
  } else report.image.torch = { runs_ms: [], load_s: 0, error: `exit ${r.status ?? r.signal}` };
}

try {
  for (const row of rows.filter((r) => r.phase === 1)) {
    if (elapsedS() > budgetS - RESERVE_S) row.skipped = 'not run: time budget';
    else runRow(row);
    await save();
  }
  if (providers.includes('cuda')) for (const m of models) runTorch(m);
  compareOutputs();
  await save();
  runImages();
  await save();
  for (const row of rows.filter((r) => r.phase === 2)) {
    if (elapsedS() > budgetS - 15) row.skipped = 'not run: time budget';
    else runRow(row);
  }
  compareOutputs();
} finally {
  memory?.stop();
  const files = await save();
  log(`written: ${files ? files.join(', ') : 'nothing'}`);
}
