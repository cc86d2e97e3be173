// One SD 1.5-size UNet (fp16, fused kernels, random weights written here) on the CUDA provider under several
// session configurations, each in its own child process beside nvidia-smi: ms per step, process CPU time per
// step, peak GPU memory. Made to find why the native session ran 10× slower than onnxruntime-node's at 1024²
// (bench/NOTES.md, session 4) and what each provider option does to memory.
//
//   node cuda-probe.mjs --tmp DIR [--model sd15|sdxl] [--sizes 1024,2048] [--steps 5] [--deadline-s 140]
//        [--configs 'binding;binding+ORT_DISABLE_FLASH_ATTENTION=1;native-worker:default;native-caller:studio']
//        [--torch DIR --python python3] [--ep cpu --unet-config FILE]   (the last two: a CPU check of the script, fp32)
// A configuration: `binding` (onnxruntime-node) or `native-caller` / `native-worker` (runtime/native, Run on the
// calling thread or on koffi's pool) with `:TUNING` (cuda-options.ts syntax), then `+NAME=VALUE` environment
// variables for its child, `@SIZE` to run it at one size only, `%linfusion` (or another attention variant) instead of
// softmax, `!profile` for ORT's per-op profile (native) and `!release` to give the arena back after every run.
// Native CUDA rows capture a CUDA graph as the studio's whole UNet does (inputs and outputs at fixed device addresses;
// the note says when ORT refused), except `!profile` rows; `studio,graph=0` times the same session without one.
// --torch DIR (holding bench/gpu_matrix_torch.py and sd_unet_torch.py, with diffusers importable) first times
// diffusers' UNet2DConditionModel (fp16, SDPA) on the same random weights for every (variant, size) our
// configurations run, in one process, its GPU memory read from the same nvidia-smi log; our rows then give ratios.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { Session, tensor } from '../pipelines/runtime/session.ts';
import { parseCudaTuning } from '../pipelines/runtime/native/cuda-options.ts';
import { NativeSession } from '../pipelines/runtime/native/native-session.ts';
import { startGpuMemorySampler } from './lib/gpu-memory.ts';
import { GpuMemoryLog } from './lib/gpu-memory-log.ts';
import { writeSafetensors } from '../pipelines/io/safetensors.ts';
import { Uniform, writeRandomSafetensors } from './lib/random-safetensors.ts';
import { SD15_UNET_CONFIG, SDXL_UNET_CONFIG, conditioningWidths, linfusionModules, unetTensorSpecs } from './lib/unet-tensors.ts';
import { parseUNetConfig } from '../pipelines/models/unet/config.ts';
import { buildFor, graphWarmUps, makeVariant, unetRunOptions, profileSummary, BATCH, VARIANTS, type VariantName } from './lib/unet-run.ts';

const { values: args } = parseArgs({
  options: {
    tmp: { type: 'string', default: '/tmp/cuda-probe' },
    model: { type: 'string', default: 'sd15' },
    sizes: { type: 'string', default: '1024,2048' },
    steps: { type: 'string', default: '5' },
    'deadline-s': { type: 'string', default: '140' },
    configs: { type: 'string', default: 'binding;native-worker:default;native-caller:default;native-caller:studio' },
    child: { type: 'string' },
    torch: { type: 'string' },
    python: { type: 'string', default: 'python3' },
    ep: { type: 'string', default: 'cuda' },
    'unet-config': { type: 'string' },
  },
});

interface ChildSpec {
  mode: 'binding' | 'native-caller' | 'native-worker';
  tuning?: string;
  variant: VariantName;
  model: 'sd15' | 'sdxl';
  ep: 'cuda' | 'cpu';
  /** The diffusers UNet config (the model's own, or --unet-config). */
  unetConfig: Record<string, unknown>;
  linfusion: string;
  size: number;
  steps: number;
  weights: string;
  profile: boolean;
  releaseArena: boolean;
  work: string;
}

interface ChildResult {
  sessionS: number;
  firstMs: number;
  medianMs: number;
  cpuPerStepS: number;
  provider: string;
  options?: string;
  profile?: string;
  cudaGraph: boolean;
  /** What the session says about refusals (a provider, a CUDA graph). */
  note?: string;
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

async function child(spec: ChildSpec): Promise<ChildResult> {
  const variant = makeVariant(spec.variant, spec.linfusion);
  const graph = buildFor({ weights: spec.weights, size: spec.size, dtype: spec.ep === 'cuda' ? 'float16' : 'float32', fused: true, ep: spec.ep, unetConfig: spec.unetConfig }, variant.attention);
  const cudaTuning = spec.mode === 'binding' ? 'binding' : parseCudaTuning(spec.tuning ?? 'default');
  if (spec.mode !== 'binding') process.env.STUDIO_NATIVE_RUN = spec.mode === 'native-worker' ? 'worker' : 'caller';
  let t0 = performance.now();
  const profilePrefix = spec.profile ? join(spec.work, `profile-${spec.mode}-${spec.size}`) : undefined;
  const session = await Session.create(graph, { providers: [spec.ep], forbidCpuFallback: true, cudaTuning, profilePrefix, ...unetRunOptions(profilePrefix) });
  const sessionS = (performance.now() - t0) / 1000;
  const latent = spec.size / 8;
  const rand = new Uniform(5);
  const { width, pooled = 0 } = conditioningWidths(parseUNetConfig(spec.unetConfig));
  const feeds = {
    sample: tensor(rand.fill(new Float32Array(BATCH * 4 * latent * latent), 1), [BATCH, 4, latent, latent]),
    timestep: tensor(new Float32Array(BATCH).fill(500), [BATCH]),
    encoder_hidden_states: tensor(rand.fill(new Float32Array(BATCH * 77 * width), 1), [BATCH, 77, width]),
    ...(spec.model === 'sdxl'
      ? { text_embeds: tensor(rand.fill(new Float32Array(BATCH * pooled), 1), [BATCH, pooled]), time_ids: tensor(Float32Array.from({ length: BATCH * 6 }, (_, i) => [spec.size, spec.size, 0, 0, spec.size, spec.size][i % 6]), [BATCH, 6]) }
      : {}),
    ...variant.feeds(),
  };
  t0 = performance.now();
  await session.run(feeds);
  const firstMs = performance.now() - t0;
  for (let i = graphWarmUps(session); i > 0; i--) await session.run(feeds);
  const times: number[] = [];
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < spec.steps; i++) {
    t0 = performance.now();
    await session.run(feeds, { releaseArena: spec.releaseArena });
    times.push(performance.now() - t0);
  }
  const cpu = process.cpuUsage(cpu0);
  const inner = session.inner;
  const profile = profilePrefix && inner instanceof NativeSession ? profileSummary(inner.endProfiling(), spec.steps + 1) : undefined;
  const options = inner instanceof NativeSession ? inner.providerOptions : undefined;
  const cudaGraph = graphWarmUps(session) > 0;
  const note = session.fallbacks.length ? session.describe() : undefined;
  await session.release();
  return { sessionS, firstMs, medianMs: median(times), cpuPerStepS: (cpu.user + cpu.system) / 1e6 / spec.steps, provider: session.provider, options, profile, cudaGraph, note };
}

if (args.child) {
  console.log(`RESULT ${JSON.stringify(await child(JSON.parse(args.child) as ChildSpec))}`);
  process.exit(0);
}

const started = performance.now();
const deadlineS = Number(args['deadline-s']);
const elapsedS = () => (performance.now() - started) / 1000;
mkdirSync(args.tmp, { recursive: true });
if (args.model !== 'sd15' && args.model !== 'sdxl') throw new Error(`--model ${args.model}: use sd15 or sdxl`);
const model = args.model;
if (args.ep !== 'cuda' && args.ep !== 'cpu') throw new Error(`--ep ${args.ep}: use cuda (or cpu, to check the script)`);
const ep = args.ep;
const unetConfig = args['unet-config'] ? (JSON.parse(readFileSync(args['unet-config'], 'utf8')) as Record<string, unknown>) : model === 'sdxl' ? SDXL_UNET_CONFIG : SD15_UNET_CONFIG;
const cfg = parseUNetConfig(unetConfig, `${model} UNet`);
// A diffusers model folder, so that PyTorch reads the same weights.
const unetDir = join(args.tmp, `${model}-unet`);
mkdirSync(unetDir, { recursive: true });
const weights = join(unetDir, 'diffusion_pytorch_model.safetensors');
writeRandomSafetensors(weights, unetTensorSpecs(cfg), 'F16', 1234);
writeFileSync(join(unetDir, 'config.json'), JSON.stringify(unetConfig));
const linfusion = join(args.tmp, `${model}-linfusion`);
const lf = linfusionModules(cfg);
mkdirSync(linfusion, { recursive: true });
writeRandomSafetensors(join(linfusion, 'diffusion_pytorch_model.safetensors'), lf.specs, 'F16', 4321);
writeFileSync(join(linfusion, 'config.json'), JSON.stringify(lf.config));
console.log(`random ${model} UNet and LinFusion modules written in ${elapsedS().toFixed(1)} s`);

const configs = args.configs.split(';').filter(Boolean);
const sizes = args.sizes.split(',').map(Number);
const variantOf = (config: string) => (/%([\w-]+)/.exec(config)?.[1] ?? 'softmax') as VariantName;
const torch = args.torch ? timePyTorch(args.torch) : new Map<string, TorchRow>();
const rows: string[] = ['| size | configuration | session s | first ms | ms/step | CPU s/step | GPU GiB | × PyTorch time | × PyTorch GiB | note |', '| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |'];
for (const size of sizes) {
  for (const config of configs) {
    const [head, ...rest] = config.split('+');
    const only = /@(\d+)/.exec(config);
    if (only && Number(only[1]) !== size) continue;
    if (elapsedS() > deadlineS) {
      rows.push(`| ${size} | ${config} | – | – | – | – | – | – | – | cut by the deadline |`);
      continue;
    }
    const profile = config.includes('!profile');
    const variant = variantOf(config);
    if (!VARIANTS.includes(variant)) throw new Error(`${config}: %${variant} is not one of ${VARIANTS.join(', ')}`);
    const strip = (t: string) => t.replace(/@\d+|!profile|!release|%[\w-]+/g, '');
    const [mode, tuning] = strip(head).split(':') as [ChildSpec['mode'], string | undefined];
    const env: Record<string, string> = { ...process.env } as Record<string, string>;
    for (const kv of rest) {
      const [k, v] = strip(kv).split('=');
      env[k] = v;
    }
    const spec: ChildSpec = { mode, tuning, variant, model, ep, unetConfig, linfusion, size, steps: Number(args.steps), weights, profile, releaseArena: config.includes('!release'), work: args.tmp };
    const sampler = startGpuMemorySampler(join(args.tmp, 'smi.log'), ep === 'cuda');
    const left = Math.max(10, deadlineS - elapsedS() + 5);
    const r = spawnSync(process.execPath, [process.argv[1], '--child', JSON.stringify(spec)], { env, encoding: 'utf8', timeout: Math.round(left * 1000), maxBuffer: 64 << 20 });
    const gib = sampler?.stop();
    const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('RESULT '));
    if (!line) {
      const why = `${r.error?.message ?? ''} ${(r.stderr ?? '').split('\n').filter((l) => /error/i.test(l)).slice(0, 2).join(' / ')}`.trim().slice(0, 240);
      rows.push(`| ${size} | ${config} | – | – | – | – | ${gib?.toFixed(2) ?? '–'} | – | – | failed: ${why} |`);
    } else {
      const x = JSON.parse(line.slice(7)) as ChildResult;
      const t = torch.get(`${variant}@${size}`);
      const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b ? `${(a / b).toFixed(2)}×` : '–');
      const graph = x.cudaGraph ? 'CUDA graph' : '';
      const note = [x.provider !== 'cuda' ? `provider ${x.provider}` : '', graph, x.note ?? '', x.profile ?? ''].filter(Boolean).join('; ');
      rows.push(`| ${size} | ${config} | ${x.sessionS.toFixed(1)} | ${x.firstMs.toFixed(0)} | ${x.medianMs.toFixed(1)} | ${x.cpuPerStepS.toFixed(3)} | ${gib?.toFixed(2) ?? '–'} | ${ratio(x.medianMs, t?.median_ms)} | ${ratio(gib, t?.gpuGb)} | ${note} |`);
    }
    console.log(rows.at(-1));
  }
}
console.log(`\n${model} UNet, ${ep === "cuda" ? "fp16" : "fp32"} fused graph on ${ep}, CFG batch ${BATCH}, random weights; wall ${elapsedS().toFixed(0)} s\n`);
console.log(rows.join('\n'));
if (torch.size) {
  console.log(`\nPyTorch (diffusers UNet2DConditionModel, fp16, SDPA; LinFusion through bench/sd_unet_torch.py's processor), same weights, same call:\n`);
  console.log('| size | variant | ms/step | GPU GiB (nvidia-smi, above idle) | allocated peak GiB | note |\n| ---: | --- | ---: | ---: | ---: | --- |');
  for (const [, t] of torch) console.log(`| ${t.size} | ${t.variant} | ${t.median_ms?.toFixed(1) ?? '–'} | ${t.gpuGb?.toFixed(2) ?? '–'} | ${t.allocated_peak_gb?.toFixed(2) ?? '–'} | ${t.error ?? ''} |`);
}
rmSync(unetDir, { recursive: true, force: true });
rmSync(linfusion, { recursive: true, force: true });

interface TorchRow {
  variant: string;
  size: number;
  median_ms?: number;
  allocated_peak_gb?: number;
  start_ms: number;
  end_ms: number;
  error?: string;
  gpuGb?: number;
}

/** diffusers' UNet on the same weights for each (variant, size) our configurations run; keyed `variant@size`. */
function timePyTorch(dir: string): Map<string, TorchRow> {
  const wanted = sizes.flatMap((size) => [...new Set(configs.filter((c) => !/@(\d+)/.test(c) || c.includes(`@${size}`)).map(variantOf))].filter((v) => v !== 'agent').map((variant) => ({ variant, size, steps: Number(args.steps) })));
  const { width, pooled = 0 } = conditioningWidths(cfg);
  for (const size of new Set(wanted.map((w) => w.size))) {
    const latent = size / 8;
    const rand = new Uniform(size);
    writeSafetensors(join(args.tmp, `inputs-${model}-${size}.safetensors`), {
      sample: { dtype: 'F32', shape: [BATCH, 4, latent, latent], data: rand.fill(new Float32Array(BATCH * 4 * latent * latent), 1) },
      timestep: { dtype: 'F32', shape: [BATCH], data: new Float32Array(BATCH).fill(500) },
      encoder_hidden_states: { dtype: 'F32', shape: [BATCH, 77, width], data: rand.fill(new Float32Array(BATCH * 77 * width), 1) },
      ...(model === 'sdxl'
        ? { text_embeds: { dtype: 'F32', shape: [BATCH, pooled], data: rand.fill(new Float32Array(BATCH * pooled), 1) }, time_ids: { dtype: 'F32', shape: [BATCH, 6], data: Float32Array.from({ length: BATCH * 6 }, (_, i) => [size, size, 0, 0, size, size][i % 6]) } }
        : {}),
    });
  }
  const memory = GpuMemoryLog.start(join(args.tmp, 'torch-memory.csv'));
  spawnSync('sleep', ['1.5']);
  const idle = memory?.samples().map((s) => s.mib) ?? [];
  const idleMib = idle.length ? Math.min(...idle) : 0;
  const left = Math.max(10, deadlineS - elapsedS());
  const r = spawnSync(args.python, [join(dir, 'gpu_matrix_torch.py'), 'unet', '--model', model, '--unet', unetDir, '--linfusion', linfusion, '--work', args.tmp, '--configs', JSON.stringify(wanted)],
    { encoding: 'utf8', cwd: dir, timeout: Math.round(left * 1000), maxBuffer: 1 << 26 });
  memory?.stop();
  const lines = (r.stdout ?? '').trim().split('\n').filter((l) => l.startsWith('{'));
  const results = lines.map((l) => JSON.parse(l) as TorchRow).filter((x) => x.variant);
  const out = new Map<string, TorchRow>();
  for (const t of results) out.set(`${t.variant}@${t.size}`, { ...t, gpuGb: memory?.peakGb(t.start_ms, t.end_ms, idleMib) });
  if (r.status !== 0) console.log(`PyTorch exited with ${r.status ?? r.signal}: ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' / ').slice(0, 400)}`);
  console.log(`PyTorch: ${out.size} of ${wanted.length} configurations timed in ${elapsedS().toFixed(0)} s`);
  return out;
}
