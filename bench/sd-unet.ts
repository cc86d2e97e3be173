// Full-size SD 1.5 UNet (859.5 M parameters, random weights, batch 2 as with CFG) with each self-attention
// variant at each image size: graph build, session creation and seconds per step on one execution
// provider, with the peak resident memory of each configuration measured in its own child process.
// Configurations whose estimated step time (FLOPs at the rate measured for that variant at a smaller
// size) exceeds --max-step-s are not run and are reported as estimates. With --torch, the same weights
// and inputs through bench/sd_unet_torch.py on the same machine, as ratios and an output agreement check.
//
//   npx tsx bench/sd-unet.ts [--ep cpu|webgpu] [--dtype float32|float16] [--sizes 512,1024,2048]
//                            [--variants softmax,agent,linfusion,agent-late] [--steps N] [--max-step-s S] [--torch]
// On the GPU machine, run an esbuild bundle of this file with onnxruntime-node external (bench/NOTES.md says how).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { SafetensorsFile, writeSafetensors } from '../pipelines/io/safetensors.ts';
import { FlopCountingGraph } from '../pipelines/attention/flops.ts';
import { parseUNetConfig } from '../pipelines/models/unet/config.ts';
import type { Provider } from '../pipelines/runtime/session.ts';
import { startGpuMemorySampler } from './lib/gpu-memory.ts';
import { requireFreeDisk, safetensorsBytes, Uniform, writeRandomSafetensors } from './lib/random-safetensors.ts';
import { ATTENTION_KINDS } from '../pipelines/attention/options.ts';
import { relL2 } from '../test/fixtures.ts';
import { BATCH, VARIANTS, buildFor, makeVariant, runConfiguration, type RunResult, type RunSpec, type VariantName } from './lib/unet-run.ts';
import { SD15_UNET_CONFIG, linfusionModules, parameterCount, unetTensorSpecs } from './lib/unet-tensors.ts';

const { values: args } = parseArgs({
  options: {
    ep: { type: 'string', default: 'cpu' },
    dtype: { type: 'string' },
    sizes: { type: 'string', default: '512,1024,2048' },
    variants: { type: 'string', default: ATTENTION_KINDS.join(',') },
    steps: { type: 'string' },
    'max-step-s': { type: 'string' },
    'child-timeout-s': { type: 'string' },
    tmp: { type: 'string', default: tmpdir() },
    torch: { type: 'boolean', default: false },
    'torch-script': { type: 'string', default: 'bench/sd_unet_torch.py' },
    python: { type: 'string', default: 'python3' },
    child: { type: 'string' },
  },
});

if (args.child) {
  // Child mode: one configuration, its result as the last line of stdout.
  const result = await runConfiguration(JSON.parse(args.child) as RunSpec);
  console.log(JSON.stringify(result));
  process.exit(0);
}

const ep = args.ep as Provider;
if (!['cpu', 'webgpu', 'cuda', 'dml', 'coreml'].includes(ep)) throw new Error(`--ep ${ep}: use cpu or webgpu (or cuda, dml, coreml where built)`);
const dtype = args.dtype ?? (ep === 'cpu' ? 'float32' : 'float16');
if (dtype !== 'float32' && dtype !== 'float16') throw new Error(`--dtype ${dtype}: use float32 or float16`);
const sizes = args.sizes.split(',').map((s) => {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 64 || n % 64 !== 0) throw new Error(`--sizes: ${s} must be a multiple of 64 pixels (the UNet halves the latent three times)`);
  return n;
}).sort((a, b) => a - b);
const variants = args.variants.split(',').map((v) => {
  if (!(VARIANTS as readonly string[]).includes(v)) throw new Error(`--variants: "${v}" is not one of ${VARIANTS.join(', ')}`);
  return v as VariantName;
});
const positive = (name: string, v: string | undefined, dflt: number) => {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!(n > 0)) throw new Error(`--${name} must be a positive number (got ${v})`);
  return n;
};
const maxStepS = positive('max-step-s', args['max-step-s'], ep === 'cpu' ? 240 : 60);
const childTimeoutS = positive('child-timeout-s', args['child-timeout-s'], ep === 'cpu' ? 1500 : 150);
const stepsFor = (size: number) => Math.round(positive('steps', args.steps, ep === 'cpu' ? (size <= 512 ? 2 : 1) : size <= 512 ? 5 : 3));

const log = (s: string) => console.error(s);
const cfg = parseUNetConfig(SD15_UNET_CONFIG, 'SD 1.5 config (bench)');
const unetSpecs = unetTensorSpecs(cfg);
const lf = linfusionModules(cfg);

// --- random weights and inputs ---------------------------------------------------------------------
requireFreeDisk(args.tmp, safetensorsBytes(unetSpecs, 'F16') + safetensorsBytes(lf.specs, 'F16'));
const work = mkdtempSync(join(args.tmp, 'studio-bench-sd-unet-'));
const cleanup = () => rmSync(work, { recursive: true, force: true });
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});
const weights = join(work, 'unet.safetensors');
const linfusion = join(work, 'linfusion');

interface Row {
  variant: VariantName;
  size: number;
  flops: number;
  result?: RunResult;
  gpuMemGb?: number;
  estimateS?: number;
  rssEstimateGb?: number;
  skipped?: string;
}
const rows: Row[] = [];
const setup: [string, string][] = [];

try {
  let t0 = performance.now();
  writeRandomSafetensors(weights, unetSpecs, 'F16', 1234);
  mkdirSync(linfusion);
  writeRandomSafetensors(join(linfusion, 'diffusion_pytorch_model.safetensors'), lf.specs, 'F16', 4321);
  writeFileSync(join(linfusion, 'config.json'), JSON.stringify(lf.config, null, 2));
  writeFileSync(join(work, 'unet-config.json'), JSON.stringify(SD15_UNET_CONFIG));
  setup.push(['random weights written (F16)', `${((performance.now() - t0) / 1000).toFixed(1)} s: UNet ${(parameterCount(unetSpecs) / 1e6).toFixed(1)} M parameters, LinFusion ${(parameterCount(lf.specs) / 1e6).toFixed(1)} M (${lf.config.modules_list.length} modules)`]);
  for (const size of sizes) {
    const latent = size / 8;
    const rand = new Uniform(size);
    writeSafetensors(join(work, `inputs-${size}.safetensors`), {
      sample: { dtype: 'F32', shape: [BATCH, 4, latent, latent], data: rand.fill(new Float32Array(BATCH * 4 * latent * latent), 1.7) },
      timestep: { dtype: 'F32', shape: [BATCH], data: Float32Array.of(999, 500) },
      encoder_hidden_states: { dtype: 'F32', shape: [BATCH, 77, 768], data: rand.fill(new Float32Array(BATCH * 77 * 768), 1.7) },
    });
  }

  // FLOPs of every configuration, counted on the graph itself (MatMul, Conv, attention).
  t0 = performance.now();
  for (const size of sizes) {
    for (const variant of variants) {
      const g = new FlopCountingGraph('flops');
      buildFor({ weights, size, dtype }, makeVariant(variant, linfusion).attention, g);
      rows.push({ variant, size, flops: g.flops });
    }
  }
  setup.push(['FLOP count (graph builds)', `${(performance.now() - t0).toFixed(0)} ms for ${rows.length} configurations`]);

  const rate = (r: Row) => (r.result ? r.flops / (median(r.result.stepsMs) / 1000) : undefined);
  for (const row of rows) {
    const measured = rows.filter((r) => r.result && r.size < row.size);
    const ref = measured.filter((r) => r.variant === row.variant).at(-1) ?? measured.at(-1);
    row.rssEstimateGb = extrapolateRss(row);
    const tooBig = row.rssEstimateGb !== undefined && row.rssEstimateGb > (0.9 * totalmem()) / 2 ** 30;
    if (ref) {
      const estimate = row.flops / rate(ref)!;
      if (estimate > maxStepS || tooBig) {
        row.estimateS = estimate;
        row.skipped = [
          `time estimated from FLOPs at the rate of ${ref.variant} ${ref.size}² (${(rate(ref)! / 1e9).toFixed(0)} GFLOP/s)${estimate > maxStepS ? `: over --max-step-s ${maxStepS}` : ''}`,
          tooBig ? `peak RSS extrapolated from smaller sizes exceeds 90 % of this machine's ${(totalmem() / 2 ** 30).toFixed(0)} GiB` : '',
        ].filter(Boolean).join('; ');
        log(`${row.variant} ${row.size}²: skipped, ~${estimate.toFixed(0)} s per step estimated`);
        continue;
      }
    }
    const spec: RunSpec = { ep, dtype, variant: row.variant, size: row.size, steps: stepsFor(row.size), weights, linfusion, work };
    log(`${row.variant} ${row.size}²: running (${spec.steps} timed steps after one warm-up) ...`);
    const gpu = startGpuMemorySampler(join(work, 'gpu-mem.csv'), ep !== 'cpu');
    const child = spawnSync(process.execPath, [...process.execArgv, process.argv[1], '--child', JSON.stringify(spec)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: childTimeoutS * 1000,
      maxBuffer: 1 << 26,
    });
    row.gpuMemGb = gpu?.stop();
    const last = child.stdout?.trim().split('\n').at(-1) ?? '';
    if (child.status === 0 && last.startsWith('{')) {
      row.result = JSON.parse(last) as RunResult;
      log(`  ${median(row.result.stepsMs).toFixed(0)} ms per step, peak RSS ${row.result.maxRssGb.toFixed(2)} GiB`);
    } else {
      const why = child.error?.message ?? (child.signal ? `killed by ${child.signal}${child.signal === 'SIGKILL' ? ' (out of memory?)' : ''}` : `exit status ${child.status}`);
      row.skipped = `failed: ${why}`;
      log(`  ${row.skipped}`);
    }
  }

  const torch = args.torch ? runTorch() : undefined;
  printTables(torch);
} finally {
  cleanup();
}

/** Peak RSS of a configuration, linear in pixel count through the two largest measured sizes of its variant. */
function extrapolateRss(row: Row): number | undefined {
  const done = rows.filter((r) => r.variant === row.variant && r.result && r.size < row.size).slice(-2);
  if (done.length < 2) return undefined;
  const [a, b] = done.map((r) => ({ px: r.size ** 2, gb: r.result!.maxRssGb }));
  return b.gb + ((b.gb - a.gb) / (b.px - a.px)) * (row.size ** 2 - b.px);
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}


interface TorchResult {
  variant: string;
  size: number;
  median_ms?: number;
  min_ms?: number;
  steps?: number;
  peak_gb?: number | null;
  finite?: boolean;
  error?: string;
}

function runTorch(): { device: string; torch: string; results: TorchResult[] } | undefined {
  const ran = [...new Set(rows.filter((r) => r.result).map((r) => r.size))];
  if (ran.length === 0) return undefined;
  log(`PyTorch reference (${args['torch-script']}) at ${ran.join(', ')} ...`);
  const r = spawnSync(args.python, [resolve(args['torch-script']), '--weights', weights, '--config', join(work, 'unet-config.json'), '--linfusion', linfusion,
    '--work', work, '--sizes', ran.join(','), '--variants', variants.join(','), '--dtype', dtype, '--steps', String(stepsFor(ran[0]))],
  { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: childTimeoutS * 2000 });
  const line = r.stdout?.trim().split('\n').at(-1) ?? '';
  if (r.status !== 0 || !line.startsWith('{')) {
    log(`PyTorch reference failed (status ${r.status}): ${r.stdout}`);
    return undefined;
  }
  return JSON.parse(line) as { device: string; torch: string; results: TorchResult[] };
}

function relL2ToTorch(variant: string, size: number): string {
  const ours = join(work, `ort-${variant}-${size}.f32`);
  const theirs = join(work, `torch-${variant}-${size}.safetensors`);
  if (!existsSync(ours) || !existsSync(theirs)) return 'n/a';
  const a = new Float32Array(new Uint8Array(readFileSync(ours)).buffer);
  return relL2(a, SafetensorsFile.open(theirs).readFloat32('out')).toExponential(2);
}

function printTables(torch: ReturnType<typeof runTorch>): void {
  const out: string[] = [];
  const table = (head: string[], body: string[][]) => {
    out.push(`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...body.map((r) => `| ${r.join(' | ')} |`));
  };
  const provider = rows.find((r) => r.result)?.result?.provider ?? ep;
  out.push(`SD 1.5 UNet, random weights, batch ${BATCH}, ${provider} / ${dtype}; agent = AgentSD early phase (steps 0-19 of 50), agent-late = its ToMe phase`);
  for (const [k, v] of setup) out.push(`- ${k}: ${v}`);
  out.push('');
  const gpuCol = rows.some((r) => r.gpuMemGb !== undefined);
  table(
    ['variant', 'image', 'TFLOP/step', 'graph build ms', 'session create s', 'first step s', 's/step (median)', 'CPU-s/step', 'peak RSS GiB', ...(gpuCol ? ['GPU mem GiB'] : []), 'note'],
    rows.map((r) => {
      const x = r.result;
      const note = [r.skipped, x?.note, x && !x.finite ? 'output has NaN/Inf' : undefined].filter(Boolean).join('; ');
      const perStep = x ? `${(median(x.stepsMs) / 1000).toFixed(3)} (N=${x.stepsMs.length})` : r.estimateS !== undefined ? `~${r.estimateS.toFixed(0)} (estimated)` : '-';
      return [r.variant, `${r.size}²`, (r.flops / 1e12).toFixed(2), x ? x.buildMs.toFixed(0) : '-', x ? x.sessionS.toFixed(1) : '-', x ? (x.firstMs / 1000).toFixed(2) : '-', perStep,
        x ? median(x.stepsCpuS).toFixed(1) : '-', x ? x.maxRssGb.toFixed(2) : r.rssEstimateGb !== undefined ? `~${r.rssEstimateGb.toFixed(1)} (estimated)` : '-', ...(gpuCol ? [r.gpuMemGb?.toFixed(2) ?? '-'] : []), note || ''];
    }),
  );
  if (torch) {
    out.push('', `PyTorch ${torch.torch} on ${torch.device}, ${dtype}, plain-PyTorch UNet (bench/sd_unet_torch.py, SDPA attention); ratio = ${provider} ms / PyTorch ms`, '');
    table(['variant', 'image', 'PyTorch ms/step', `${provider} ms/step`, 'ratio', 'PyTorch peak GiB', `output rel-L2 ${provider} vs PyTorch`],
      torch.results.map((t) => {
        const ours = rows.find((r) => r.variant === t.variant && r.size === t.size)?.result;
        const oursMs = ours ? median(ours.stepsMs) : undefined;
        if (t.median_ms === undefined) return [t.variant, `${t.size}²`, t.error ?? '-', oursMs?.toFixed(1) ?? '-', '-', '-', '-'];
        return [t.variant, `${t.size}²`, t.median_ms.toFixed(1), oursMs?.toFixed(1) ?? '-', oursMs ? `${(oursMs / t.median_ms).toFixed(1)}×` : '-',
          t.peak_gb?.toFixed(2) ?? '-', relL2ToTorch(t.variant, t.size)];
      }));
  }
  console.log(out.join('\n'));
}
