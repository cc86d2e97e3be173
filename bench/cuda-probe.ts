// One SD 1.5-size UNet (fp16, fused kernels, random weights written here) on the CUDA provider under several
// session configurations, each in its own child process beside nvidia-smi: ms per step, process CPU time per
// step, peak GPU memory. Made to find why the native session ran 10× slower than onnxruntime-node's at 1024²
// (bench/NOTES.md, session 4) and what each provider option does to memory.
//
//   node cuda-probe.mjs --tmp DIR [--model sd15|sdxl|sd15-tiny] [--ep cuda|cpu] [--sizes 1024,2048] [--steps 5]
//        [--deadline-s 140] [--keep]   (--keep: leave the random weights in --tmp, e.g. for unet_profile_torch.py)
//        [--configs 'binding;binding+ORT_DISABLE_FLASH_ATTENTION=1;native-worker:default;native-caller:studio']
// A configuration: `binding` (onnxruntime-node) or `native-caller` / `native-worker` (runtime/native, Run on the
// calling thread or on koffi's pool) with `:TUNING` (cuda-options.ts syntax), then `+NAME=VALUE` environment
// variables for its child, `@SIZE` to run it at one size only, `%linfusion` (or another attention variant) instead of
// softmax, `!profile` for ORT's per-op profile (native) and `!release` to give the arena back after every run.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { Session, serializeGraph, tensor } from '../pipelines/runtime/session.ts';
import { parseCudaTuning } from '../pipelines/runtime/native/cuda-options.ts';
import { NativeSession } from '../pipelines/runtime/native/native-session.ts';
import { startGpuMemorySampler } from './lib/gpu-memory.ts';
import { Uniform, writeRandomSafetensors } from './lib/random-safetensors.ts';
import { SD15_UNET_CONFIG, SDXL_UNET_CONFIG, linfusionModules, unetTensorSpecs } from './lib/unet-tensors.ts';
import { parseUNetConfig } from '../pipelines/models/unet/config.ts';
import { buildFor, makeVariant, profileSummary, BATCH, VARIANTS, type VariantName } from './lib/unet-run.ts';

const { values: args } = parseArgs({
  options: {
    tmp: { type: 'string', default: '/tmp/cuda-probe' },
    model: { type: 'string', default: 'sd15' },
    ep: { type: 'string', default: 'cuda' },
    sizes: { type: 'string', default: '1024,2048' },
    steps: { type: 'string', default: '5' },
    'deadline-s': { type: 'string', default: '140' },
    configs: { type: 'string', default: 'binding;native-worker:default;native-caller:default;native-caller:studio' },
    child: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});

// sd15-tiny: SD 1.5's first two levels (320/640 channels: the CUDA provider's fused GroupNorm needs such widths): the probe checked end to end on a CPU, and the sessions' fixed GPU memory.
const CONFIGS = {
  sd15: SD15_UNET_CONFIG,
  sdxl: SDXL_UNET_CONFIG,
  'sd15-tiny': { ...SD15_UNET_CONFIG, block_out_channels: [320, 640], layers_per_block: 1, down_block_types: ['CrossAttnDownBlock2D', 'DownBlock2D'], up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D'] },
};
type ModelName = keyof typeof CONFIGS;

interface ChildSpec {
  mode: 'binding' | 'native-caller' | 'native-worker';
  tuning?: string;
  variant: VariantName;
  model: ModelName;
  ep: 'cuda' | 'cpu';
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
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

async function child(spec: ChildSpec): Promise<ChildResult> {
  const variant = makeVariant(spec.variant, spec.linfusion);
  const onCpu = spec.ep === 'cpu';
  const graph = buildFor({ weights: spec.weights, size: spec.size, dtype: onCpu ? 'float32' : 'float16', fused: !onCpu, ep: spec.ep, unetConfig: CONFIGS[spec.model] }, variant.attention);
  const cudaTuning = spec.mode === 'binding' ? 'binding' : parseCudaTuning(spec.tuning ?? 'default');
  if (spec.mode !== 'binding') process.env.STUDIO_NATIVE_RUN = spec.mode === 'native-worker' ? 'worker' : 'caller';
  let t0 = performance.now();
  const profilePrefix = spec.profile ? join(spec.work, `profile-${spec.mode}-${spec.size}`) : undefined;
  // On the CPU (the probe's own check) the native session directly: the studio makes native sessions for CUDA only.
  const session = onCpu
    ? { inner: await NativeSession.create(serializeGraph(graph), { provider: 'cpu', profilePrefix }), provider: 'cpu' }
    : await Session.create(graph, { providers: ['cuda'], forbidCpuFallback: true, cudaTuning, profilePrefix });
  const sessionS = (performance.now() - t0) / 1000;
  const latent = spec.size / 8;
  const rand = new Uniform(5);
  const width = spec.model === 'sdxl' ? 2048 : 768;
  const feeds = {
    sample: tensor(rand.fill(new Float32Array(BATCH * 4 * latent * latent), 1), [BATCH, 4, latent, latent]),
    timestep: tensor(new Float32Array(BATCH).fill(500), [BATCH]),
    encoder_hidden_states: tensor(rand.fill(new Float32Array(BATCH * 77 * width), 1), [BATCH, 77, width]),
    ...(spec.model === 'sdxl'
      ? { text_embeds: tensor(rand.fill(new Float32Array(BATCH * 1280), 1), [BATCH, 1280]), time_ids: tensor(Float32Array.from({ length: BATCH * 6 }, (_, i) => [spec.size, spec.size, 0, 0, spec.size, spec.size][i % 6]), [BATCH, 6]) }
      : {}),
    ...variant.feeds(),
  };
  const inner = session.inner;
  t0 = performance.now();
  await inner.run(feeds);
  const firstMs = performance.now() - t0;
  const times: number[] = [];
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < spec.steps; i++) {
    t0 = performance.now();
    await inner.run(feeds, { releaseArena: spec.releaseArena });
    times.push(performance.now() - t0);
  }
  const cpu = process.cpuUsage(cpu0);
  const profile = profilePrefix && inner instanceof NativeSession ? profileSummary(inner.endProfiling()) : undefined;
  const options = inner instanceof NativeSession ? inner.providerOptions : undefined;
  await inner.release();
  return { sessionS, firstMs, medianMs: median(times), cpuPerStepS: (cpu.user + cpu.system) / 1e6 / spec.steps, provider: session.provider, options, profile };
}

if (args.child) {
  console.log(`RESULT ${JSON.stringify(await child(JSON.parse(args.child) as ChildSpec))}`);
  process.exit(0);
}

const started = performance.now();
const deadlineS = Number(args['deadline-s']);
const elapsedS = () => (performance.now() - started) / 1000;
mkdirSync(args.tmp, { recursive: true });
if (!(args.model in CONFIGS)) throw new Error(`--model ${args.model}: use ${Object.keys(CONFIGS).join(', ')}`);
if (args.ep !== 'cuda' && args.ep !== 'cpu') throw new Error(`--ep ${args.ep}: use cuda or cpu`);
const model = args.model as ModelName;
const ep = args.ep;
const cfg = parseUNetConfig(CONFIGS[model], `${model} UNet`);
const weights = join(args.tmp, `${model}-unet.safetensors`);
writeRandomSafetensors(weights, unetTensorSpecs(cfg), ep === 'cpu' ? 'F32' : 'F16', 1234);
const linfusion = join(args.tmp, `${model}-linfusion`);
const lf = linfusionModules(cfg);
mkdirSync(linfusion, { recursive: true });
writeRandomSafetensors(join(linfusion, 'diffusion_pytorch_model.safetensors'), lf.specs, ep === 'cpu' ? 'F32' : 'F16', 4321);
writeFileSync(join(linfusion, 'config.json'), JSON.stringify(lf.config));
console.log(`random ${model} UNet and LinFusion modules written in ${elapsedS().toFixed(1)} s`);

const rows: string[] = ['| size | configuration | session s | first ms | ms/step | CPU s/step | GPU GiB | note |', '| ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |'];
const configs = args.configs.split(';').filter(Boolean);
for (const size of args.sizes.split(',').map(Number)) {
  for (const config of configs) {
    const [head, ...rest] = config.split('+');
    const only = /@(\d+)/.exec(config);
    if (only && Number(only[1]) !== size) continue;
    if (elapsedS() > deadlineS) {
      rows.push(`| ${size} | ${config} | – | – | – | – | – | cut by the deadline |`);
      continue;
    }
    const profile = config.includes('!profile');
    const variant = (/%([\w-]+)/.exec(config)?.[1] ?? 'softmax') as VariantName;
    if (!VARIANTS.includes(variant)) throw new Error(`${config}: %${variant} is not one of ${VARIANTS.join(', ')}`);
    const strip = (t: string) => t.replace(/@\d+|!profile|!release|%[\w-]+/g, '');
    const [mode, tuning] = strip(head).split(':') as [ChildSpec['mode'], string | undefined];
    const env: Record<string, string> = { ...process.env } as Record<string, string>;
    for (const kv of rest) {
      const [k, v] = strip(kv).split('=');
      env[k] = v;
    }
    const spec: ChildSpec = { mode, tuning, variant, model, ep, linfusion, size, steps: Number(args.steps), weights, profile, releaseArena: config.includes('!release'), work: args.tmp };
    const sampler = startGpuMemorySampler(join(args.tmp, 'smi.log'), ep === 'cuda');
    const left = Math.max(10, deadlineS - elapsedS() + 5);
    const r = spawnSync(process.execPath, [process.argv[1], '--child', JSON.stringify(spec)], { env, encoding: 'utf8', timeout: Math.round(left * 1000), maxBuffer: 64 << 20 });
    const gib = sampler?.stop();
    const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('RESULT '));
    if (!line) {
      const why = `${r.error?.message ?? ''} ${(r.stderr ?? '').split('\n').filter((l) => /error/i.test(l)).slice(0, 2).join(' / ')}`.trim().slice(0, 240);
      rows.push(`| ${size} | ${config} | – | – | – | – | ${gib?.toFixed(2) ?? '–'} | failed: ${why} |`);
    } else {
      const x = JSON.parse(line.slice(7)) as ChildResult;
      const note = [x.provider !== 'cuda' ? `provider ${x.provider}` : '', x.profile ?? '', x.options ?? ''].filter(Boolean).join('; ');
      rows.push(`| ${size} | ${config} | ${x.sessionS.toFixed(1)} | ${x.firstMs.toFixed(0)} | ${x.medianMs.toFixed(1)} | ${x.cpuPerStepS.toFixed(3)} | ${gib?.toFixed(2) ?? '–'} | ${note} |`);
    }
    console.log(rows.at(-1));
  }
}
console.log(`\n${model} UNet, fp16 fused graph, CFG batch ${BATCH}, random weights; wall ${elapsedS().toFixed(0)} s\n`);
console.log(rows.join('\n'));
if (!args.keep) {
  rmSync(weights, { force: true });
  rmSync(linfusion, { recursive: true, force: true });
}
