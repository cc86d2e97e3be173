// LinFusion's high-resolution stages in the studio, per stage size: the SD 1.5-size and SDXL-size UNets with
// LinFusion attention (one evaluation = CFG's 2 rows) and the SD VAE, all with random weights written here, run as
// the memory plan runs them within the device's memory or --budget-gib (--pieces auto: the UNet whole, split into
// sessions with its skips on the device or the host, CFG rows one at a time, FF/LinFusion pieces; the VAE tile),
// with the provider's fused kernels as the SD pipeline builds them; --split, --row-by-row, --skips-on-host and
// --vae-tile force a choice. Each UNet × size and each VAE size runs in its own child process, so its peak memory
// is its own (GPU: nvidia-smi's used memory above the start; host: peak RSS). A stage's time is VAE encode +
// (50 × the stage's ladder strength) evaluations + VAE decode, the notebook's ladder (2048: 0.4, 4096: 0.3,
// 8192: 0.2, 16384: 0.1, by the stage's longer side). A size the plan refuses is skipped with the refusal printed.
// UNet rows run first, then the VAE rows, until the deadline; --profile adds ORT's kernel time per op per session.
//
//   npx tsx bench/hires.ts [--ep cuda|webgpu|cpu] [--dtype float16|float32] [--unets sd15,sdxl,tiny,tinyxl]
//                          [--sizes 2048x2048,4096x4096,8192x4096,16384x8192] [--calls 1] [--deadline-s 280]
//                          [--pieces auto|none] [--budget-gib N] [--split [--layer-sessions]] [--row-by-row] [--skips-on-host [--park pageable]]
//                          [--vae-tile auto|PX] [--vae-sizes …] [--device-gib N] [--profile]
// Standalone (no fixtures): on the GPU machine run an esbuild bundle with onnxruntime-node external
// (bench/NOTES.md says how). Prints a table; with $OUT set, also writes $OUT/hires.json.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import { parseUNetConfig, type UNetConfig } from '../pipelines/models/unet/config.ts';
import { openUNetRunner } from '../pipelines/models/unet/runner.ts';
import { KernelChoice } from '../pipelines/models/kernel-choice.ts';
import { fusedKernels } from '../pipelines/runtime/kernels.ts';
import { NativeSession } from '../pipelines/runtime/native/native-session.ts';
import { profileSummary } from './lib/unet-run.ts';
import { vaeConfigFromDiffusers } from '../pipelines/models/vae/config.ts';
import { Vae } from '../pipelines/models/vae/vae.ts';
import { attentionSchedule } from '../pipelines/attention/registry.ts';
import { Session, tensor, type Provider } from '../pipelines/runtime/session.ts';
import { startGpuMemorySampler } from './lib/gpu-memory.ts';
import { requireFreeDisk, safetensorsBytes, Uniform, writeRandomLinFusion, writeRandomSafetensors } from './lib/random-safetensors.ts';
import { SD15_UNET_CONFIG, SDXL_UNET_CONFIG, linfusionModules, parameterCount, unetTensorSpecs } from './lib/unet-tensors.ts';
import { SD_VAE_CONFIG, vaeTensorSpecs } from './lib/vae-tensors.ts';
import { describeStageMemory, planLadder, refusal, unetSizes, type PlanInput } from '../pipelines/recipes/hires/memory-plan.ts';
import { WHOLE, type UNetMemory } from '../pipelines/models/unet/memory.ts';

/** Whether the split UNet's pieces print the arena's statistics after they run (the first call's); declared before the top-level code. */
const arenaLog = { on: false };

// LinFusion's own PyTorch stage (s, GiB) from bench/NOTES.md; declared before the top-level code that prints it.
const TORCH_STAGES: Record<string, [number, number]> = { '2048x2048': [3.99, 11.5], '4096x4096': [5.46, 11.7], '8192x4096': [11.25, 18.6], '16384x8192': [46.45, 68.5] };

/** `tiny`, `tinyxl`: SD 1.5's and SDXL's layouts at 32–64 channels, to check the bench itself on a CPU. */
const TINY_UNET_CONFIG = { ...SD15_UNET_CONFIG, block_out_channels: [32, 32, 32, 32], cross_attention_dim: 32, layers_per_block: 1 };
const TINYXL_UNET_CONFIG = { ...SDXL_UNET_CONFIG, block_out_channels: [32, 64, 64], attention_head_dim: [1, 2, 2], transformer_layers_per_block: [1, 1, 1], cross_attention_dim: 32, layers_per_block: 1 };
const UNETS = {
  sd15: { label: 'SD 1.5', config: SD15_UNET_CONFIG, text: 768 },
  sdxl: { label: 'SDXL', config: SDXL_UNET_CONFIG, text: 2048 },
  tiny: { label: 'tiny', config: TINY_UNET_CONFIG, text: 32 },
  tinyxl: { label: 'tiny SDXL', config: TINYXL_UNET_CONFIG, text: 32 },
} as const;
type UNetName = keyof typeof UNETS;
/** One UNet evaluation: CFG's unconditional and conditional rows. */
const CFG_ROWS = 2;

const { values: args } = parseArgs({
  options: {
    ep: { type: 'string', default: 'cuda' },
    dtype: { type: 'string' },
    unets: { type: 'string', default: 'sd15,sdxl' },
    sizes: { type: 'string', default: '2048x2048,4096x4096,8192x4096,16384x8192' },
    'vae-sizes': { type: 'string' },
    calls: { type: 'string', default: '1' },
    profile: { type: 'boolean', default: false },
    pieces: { type: 'string', default: 'auto' },
    'device-gib': { type: 'string' },
    split: { type: 'boolean', default: false },
    /** With --split, one session per layer instead of per level (UNetMemory.layerSessions). */
    'layer-sessions': { type: 'boolean', default: false },
    'row-by-row': { type: 'boolean', default: false },
    'skips-on-host': { type: 'boolean', default: false },
    /** Where native CUDA sessions park the skips: `pinned` (default) or `pageable` host memory (STUDIO_PARK_MEMORY). */
    park: { type: 'string', default: 'pinned' },
    'vae-tile': { type: 'string', default: 'auto' },
    'budget-gib': { type: 'string' },
    'deadline-s': { type: 'string', default: '280' },
    'end-to-end': { type: 'boolean', default: false },
    tmp: { type: 'string', default: tmpdir() },
    child: { type: 'string' },
  },
});

interface ChildSpec {
  /** `stage`: --end-to-end, the VAE encode, the ladder's CFG calls and the VAE decode in one process. */
  kind: 'unet' | 'vae' | 'stage';
  unet?: UNetName;
  width: number;
  height: number;
  ep: Provider;
  dtype: 'float32' | 'float16';
  calls: number;
  /** ORT's per-node profile of each UNet session (native CUDA sessions), summed per op type. */
  profile: boolean;
  work: string;
  memory: UNetMemory;
  /** VAE tile side in latent pixels; undefined: whole. */
  vaeTile?: number;
  /** VAE tiles per session run (the plan's). */
  vaeTilesPerRun?: number;
}

interface ChildResult {
  sessionS: number;
  /** UNet: first call (warm-up) and the median of the timed calls, ms. */
  firstMs?: number;
  callMs?: number;
  /** VAE: whole tiled encode / decode including session creation, s; tiles per pass. */
  encodeS?: number;
  decodeS?: number;
  tiles?: number;
  /** VAE: one tile's decode, first (session + autotuning) and second call, s. */
  tileFirstS?: number;
  tileS?: number;
  /** --end-to-end: each CFG call's time, s, and each part's GPU peak above that part's start, GiB. */
  callsS?: number[];
  partGpuGb?: Record<string, number | undefined>;
  /** UNet split into sessions: each piece's time per call (all rows), s. */
  pieceS?: Record<string, number>;
  /** --profile: per session (`whole` or the piece), ORT's kernel time per run by op type. */
  profiles?: Record<string, string>;
  provider: string;
  maxRssGb: number;
}

if (args.child) {
  const spec = JSON.parse(args.child) as ChildSpec;
  console.log(JSON.stringify(spec.kind === 'unet' ? await runUNet(spec) : spec.kind === 'stage' ? await runStage(spec) : await runVae(spec)));
  process.exit(0);
}

const ep = args.ep as Provider;
if (!['pinned', 'pageable'].includes(args.park)) throw new Error(`--park ${args.park}: pinned or pageable`);
// Read by the children's native sessions (native-session.ts, hostMemoryFor).
if (args.park === 'pageable') process.env.STUDIO_PARK_MEMORY = 'pageable';
if (!['cpu', 'webgpu', 'cuda', 'dml', 'coreml'].includes(ep)) throw new Error(`--ep ${ep}: use cuda, webgpu or cpu`);
const dtype = (args.dtype ?? (ep === 'cpu' ? 'float32' : 'float16')) as ChildSpec['dtype'];
if (dtype !== 'float32' && dtype !== 'float16') throw new Error(`--dtype ${dtype}: use float32 or float16`);
const unets = args.unets.split(',').map((u) => {
  if (!(u in UNETS)) throw new Error(`--unets: "${u}" is not one of ${Object.keys(UNETS).join(', ')}`);
  return u as UNetName;
});
const sizeList = (list: string, flag: string) => list.split(',').map((s) => {
  const m = /^(\d+)x(\d+)$/.exec(s);
  const [width, height] = m ? [Number(m[1]), Number(m[2])] : [NaN, NaN];
  if (!m || width % 64 || height % 64) throw new Error(`${flag}: "${s}" must be WIDTHxHEIGHT, both multiples of 64`);
  return { width, height };
});
const sizes = sizeList(args.sizes, '--sizes');
const vaeSizes = args['vae-sizes'] ? sizeList(args['vae-sizes'], '--vae-sizes') : sizes;
/** Timed calls after the first; 0: the first call is the one timed (the tuned CUDA sessions search no algorithms on it). */
const calls = Math.max(0, Math.round(Number(args.calls)));
const vaeTilePx = args['vae-tile'] === 'auto' ? undefined : Number(args['vae-tile']);
if (vaeTilePx !== undefined && (!Number.isInteger(vaeTilePx) || vaeTilePx < 256 || vaeTilePx % 64)) throw new Error(`--vae-tile ${args['vae-tile']}: give auto (the memory plan's) or the VAE tile side in pixels, a multiple of 64 from 256`);
const budgetBytes = args['budget-gib'] ? Number(args['budget-gib']) * 2 ** 30 : undefined;
if (budgetBytes !== undefined && !(budgetBytes > 0)) throw new Error(`--budget-gib ${args['budget-gib']}: give the GPU memory the plan may use, in GiB`);
if (args.pieces !== 'auto' && args.pieces !== 'none') throw new Error(`--pieces ${args.pieces}: use auto (the memory plan's) or none`);
const deviceBytes = args['device-gib'] ? Number(args['device-gib']) * 2 ** 30 : deviceMemory();
const deadline = performance.now() + Number(args['deadline-s']) * 1000;
const log = (s: string) => console.error(s);

/** The notebook's ladder: strength by the stage's longer side, 50 × strength denoising steps. */
function ladderCalls(size: { width: number; height: number }): number {
  const side = Math.max(size.width, size.height);
  const strength = side <= 2048 ? 0.4 : side <= 4096 ? 0.3 : side <= 8192 ? 0.2 : 0.1;
  return Math.round(50 * strength);
}

const work = mkdtempSync(join(args.tmp, 'studio-bench-hires-'));
process.on('SIGINT', () => {
  rmSync(work, { recursive: true, force: true });
  process.exit(130);
});

interface Row {
  what: string;
  width: number;
  height: number;
  memory?: UNetMemory;
  vaeTile?: number;
  result?: ChildResult;
  gpuGb?: number;
  skipped?: string;
}
const rows: Row[] = [];
const started = performance.now();

try {
  let bytes = safetensorsBytes(vaeTensorSpecs(vaeConfigFromDiffusers(SD_VAE_CONFIG, 'SD VAE')), 'F16');
  for (const u of unets) {
    const cfg = parseUNetConfig(UNETS[u].config, `${u} config`);
    bytes += safetensorsBytes(unetTensorSpecs(cfg), 'F16') + safetensorsBytes(linfusionModules(cfg).specs, 'F16');
  }
  requireFreeDisk(args.tmp, bytes);
  const t0 = performance.now();
  writeRandomSafetensors(join(work, 'vae.safetensors'), vaeTensorSpecs(vaeConfigFromDiffusers(SD_VAE_CONFIG, 'SD VAE')), 'F16', 77);
  for (const u of unets) {
    const cfg = parseUNetConfig(UNETS[u].config, `${u} config`);
    const lf = linfusionModules(cfg);
    writeRandomSafetensors(join(work, `${u}-unet.safetensors`), unetTensorSpecs(cfg), 'F16', 1234);
    writeRandomLinFusion(join(work, `${u}-linfusion`), cfg, 'F16', 4321);
    log(`${UNETS[u].label} UNet: ${(parameterCount(unetTensorSpecs(cfg)) / 1e6).toFixed(0)} M parameters + LinFusion ${(parameterCount(lf.specs) / 1e6).toFixed(0)} M`);
  }
  log(`random weights written in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  // The UNets' stages first (SD 1.5-size, then SDXL-size), then the VAE: the deadline cuts the last ones.
  const order = [...unets.flatMap((u) => sizes.map((size) => ({ what: u as UNetName | 'vae', size }))), ...(args['end-to-end'] ? [] : vaeSizes.map((size) => ({ what: 'vae' as const, size })))];
  for (const { what, size } of order) {
    const row: Row = { what, ...size };
    rows.push(row);
    const left = deadline - performance.now();
    if (left < 5000) {
      row.skipped = `--deadline-s ${args['deadline-s']} reached`;
      continue;
    }
    const plan = stagePlanFor(what === 'vae' ? unets[0] : what, size);
    if (plan.refused && what !== 'vae') {
      row.skipped = `refused by the memory plan: ${plan.refused}`;
      log(`${what} ${size.width}×${size.height}: ${row.skipped}`);
      continue;
    }
    row.memory = { ...(args.pieces === 'auto' ? plan.unet : WHOLE), ...(args.split ? { split: true } : {}), ...(args['layer-sessions'] ? { split: true, layerSessions: true } : {}), ...(args['row-by-row'] ? { rowByRow: true } : {}), ...(args['skips-on-host'] ? { skipsOnHost: true } : {}) };
    row.vaeTile = vaeTilePx ? vaeTilePx / 8 : plan.vaeTile;
    const spec: ChildSpec = { kind: what === 'vae' ? 'vae' : args['end-to-end'] ? 'stage' : 'unet', unet: what === 'vae' ? undefined : what, ...size, ep, dtype, calls: args['end-to-end'] ? ladderCalls(size) : calls, profile: args.profile, work, memory: row.memory, vaeTile: row.vaeTile, vaeTilesPerRun: vaeTilePx ? undefined : plan.vaeTilesPerRun };
    log(`${what} ${size.width}×${size.height}: running ...`);
    const gpu = startGpuMemorySampler(join(work, 'gpu-mem.csv'), ep !== 'cpu');
    const child = spawnSync(process.execPath, [...process.execArgv, process.argv[1], '--child', JSON.stringify(spec)], {
      encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: Math.floor(left), killSignal: 'SIGKILL', maxBuffer: 1 << 24,
    });
    row.gpuGb = gpu?.stop();
    const last = child.stdout?.trim().split('\n').at(-1) ?? '';
    if (child.status === 0 && last.startsWith('{')) row.result = JSON.parse(last) as ChildResult;
    else row.skipped = `failed: ${child.error?.message ?? (child.signal ? `killed by ${child.signal}${child.signal === 'SIGKILL' ? ' (out of memory?)' : ''}` : `exit status ${child.status}`)}`;
    log(`  GPU memory ${row.gpuGb?.toFixed(1) ?? '–'} GiB above the start; ${row.skipped ?? JSON.stringify(row.result)}`);
  }
  printTables();
  if (process.env.OUT) writeFileSync(join(process.env.OUT, 'hires.json'), JSON.stringify({ ep, dtype, calls, wallS: (performance.now() - started) / 1000, rows }, null, 1));
} finally {
  rmSync(work, { recursive: true, force: true });
}

/** The ladder plan of one stage of this size for a UNet (its own choice of pieces, or `unetMemory` as run), and the refusal when it will not fit. */
function stagePlanFor(u: UNetName, size: { width: number; height: number }, unetMemory?: UNetMemory) {
  const input = { ...planInput(u, size), unetMemory };
  const plan = planLadder(input);
  return { ...plan.stages[0], refused: refusal(input, plan) };
}

function planInput(u: UNetName, size: { width: number; height: number }): PlanInput {
  const cfg = parseUNetConfig(UNETS[u].config, `${u} config`);
  const specs = new Map(unetTensorSpecs(cfg).map((t) => [t.name, t.shape]));
  const sizesOf = unetSizes({ path: u, keys: () => [...specs.keys()], has: (k) => specs.has(k), info: (k) => ({ name: k, dtype: 'F16', shape: specs.get(k)!, offset: 0, byteLength: 0, file: u }) }, cfg);
  const vaeParams = vaeTensorSpecs(vaeConfigFromDiffusers(SD_VAE_CONFIG, 'SD VAE')).reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
  return {
    unet: sizesOf, otherParams: vaeParams, stages: [{ ...size, strength: 0.5, steps: ladderCalls(size) }], rows: CFG_ROWS, images: 1, attention: 'linfusion',
    provider: ep, bytesPerValue: dtype === 'float16' ? 2 : 4, availableBytes: deviceBytes, budgetBytes,
  };
}

/** The GPU's memory (nvidia-smi) for GPU providers, the host's on the CPU. */
function deviceMemory(): number | undefined {
  if (ep === 'cpu') return totalmem();
  const smi = spawnSync('nvidia-smi', ['--query-gpu=memory.total', '--format=csv,noheader,nounits'], { encoding: 'utf8' });
  const mib = Number(smi.stdout?.split('\n')[0]);
  return smi.status === 0 && mib > 0 ? mib * 2 ** 20 : undefined;
}


function printTables(): void {
  const f = (v: number | undefined, d = 2) => (v === undefined ? '–' : v.toFixed(d));
  console.log(`\nLinFusion stages, ${ep} ${dtype}, random weights, CFG (2 rows) per call, VAE tiles ${vaeTilePx ? `${vaeTilePx} px` : "the plan's"}; wall ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
  console.log(`device memory ${deviceBytes ? `${(deviceBytes / 2 ** 30).toFixed(0)} GiB` : 'unknown'}${budgetBytes ? `, the plan's budget ${args['budget-gib']} GiB` : ''}; UNet memory: ${args.pieces === 'auto' ? "the plan's" : 'whole'}${args.split ? ', split forced' : ''}${args['row-by-row'] ? ', row by row forced' : ''}\n`);
  console.log('| part | size | UNet memory (FF / LinFusion pieces) or VAE tiles | session s | first call s | per call s | VAE encode s | VAE decode s | tiles | one tile s (first / next) | GPU mem GiB | peak RSS GiB | note |');
  console.log('| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const r of rows) {
    const x = r.result;
    console.log(`| ${r.what} | ${r.width}×${r.height} | ${r.what === 'vae' ? (r.vaeTile ? `tiles ${r.vaeTile * 8} px` : 'whole') : r.memory ? memoryLabel(r.memory) : '–'} | ${f(x?.sessionS, 1)} | ${f(x?.firstMs && x.firstMs / 1000)} | ${f(x?.callMs && x.callMs / 1000)} | ${f(x?.encodeS)} | ${f(x?.decodeS)} | ${x?.tiles ?? '–'} | ${x?.tileS === undefined ? '–' : `${f(x.tileFirstS)} / ${f(x.tileS)}`} | ${f(r.gpuGb, 1)} | ${f(x?.maxRssGb, 1)} | ${r.skipped ?? x?.provider ?? ''} |`);
  }
  for (const r of rows.filter((r) => r.result?.pieceS)) {
    console.log(`\n${r.what} ${r.width}×${r.height}, split into sessions: s per piece per call (${Object.entries(r.result!.pieceS!).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')})`);
  }
  for (const r of rows.filter((r) => r.result?.profiles)) {
    console.log(`\n${r.what} ${r.width}×${r.height}, ORT's profile per session:`);
    for (const [part, line] of Object.entries(r.result!.profiles!)) console.log(`- ${part}: ${line}`);
  }
  if (args['end-to-end']) {
    printEndToEnd(f);
    return;
  }
  console.log('\nPer stage (VAE encode + ladder CFG calls × per-call time + VAE decode; peak = the larger of the UNet and VAE children), beside the plan and LinFusion\'s PyTorch stage (bench/NOTES.md, 2 CFG calls, 2048 px VAE tiles):\n');
  console.log('| UNet | stage size | plan: how | CFG calls | UNet s/call | plan: s/call | VAE enc + dec s | plan: VAE s | stage s | plan: stage s | peak GPU GiB | plan: peak GiB | PyTorch stage s / GiB |');
  console.log('| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const u of unets) {
    for (const size of sizes) {
      const at = (what: string) => rows.find((r) => r.what === what && r.width === size.width && r.height === size.height);
      const [unetRow, vaeRow] = [at(u), at('vae')];
      const vae = vaeRow?.result;
      const n = ladderCalls(size);
      const call = unetRow?.result?.callMs;
      const vaeS = vae?.encodeS !== undefined && vae.decodeS !== undefined ? vae.encodeS + vae.decodeS : undefined;
      const stage = vaeS !== undefined && call !== undefined ? vaeS + (n * call) / 1000 : undefined;
      const peak = [unetRow?.gpuGb, vaeRow?.gpuGb].filter((v): v is number => v !== undefined);
      const plan = stagePlanFor(u, size, unetRow?.memory);
      const torch = u === 'sd15' ? TORCH_STAGES[`${size.width}x${size.height}`] : undefined;
      console.log(`| ${UNETS[u].label} | ${size.width}×${size.height} | ${describeStageMemory(plan).join(', ') || 'whole'} | ${n} | ${f(call && call / 1000)} | ${plan.unetCallSeconds.toFixed(2)} | ${f(vaeS, 1)} | ${plan.vaeSeconds.toFixed(1)} | ${f(stage, 1)} | ${plan.seconds.toFixed(1)} | ${peak.length ? Math.max(...peak).toFixed(1) : '–'} | ${(plan.peakBytes / 2 ** 30).toFixed(1)} | ${torch ? `${torch[0]} / ${torch[1]}` : '–'} |`);
    }
  }
}


/** --end-to-end: each stage's parts as one process ran them, beside the plan's prediction. */
function printEndToEnd(f: (v: number | undefined, d?: number) => string): void {
  console.log('\nEnd to end, one process per stage (VAE encode, the ladder\'s CFG calls, VAE decode; each part\'s GPU peak above its start, the whole child\'s above the child\'s start), beside the plan:\n');
  console.log('| UNet | stage size | how | encode s (tiles) / GiB | UNet sessions s | CFG calls s (each) / GiB | decode s / GiB | stage s (sum of parts) | child peak GiB | plan: stage s / peak GiB |');
  console.log('| --- | --- | --- | --- | ---: | --- | --- | ---: | ---: | --- |');
  for (const r of rows) {
    const x = r.result;
    const plan = stagePlanFor(r.what as UNetName, r, r.memory);
    const g = x?.partGpuGb ?? {};
    const unetS = x?.callsS?.reduce((a, b) => a + b, 0);
    const stage = x && unetS !== undefined ? x.encodeS! + x.sessionS + unetS + x.decodeS! : undefined;
    console.log(`| ${UNETS[r.what as UNetName]?.label ?? r.what} | ${r.width}×${r.height} | ${r.memory ? memoryLabel(r.memory) : '–'}, VAE ${r.vaeTile ? `${r.vaeTile * 8} px tiles` : 'whole'} | ${f(x?.encodeS)} (${x?.tiles ?? '–'}) / ${f(g.encode, 1)} | ${f(x?.sessionS, 1)} | ${f(unetS)} (${x?.callsS?.map((c) => c.toFixed(2)).join(', ') ?? r.skipped ?? '–'}) / ${f(g.unet, 1)} | ${f(x?.decodeS)} / ${f(g.decode, 1)} | ${f(stage, 1)} | ${f(r.gpuGb, 1)} | ${plan.seconds.toFixed(1)} / ${(plan.peakBytes / 2 ** 30).toFixed(1)} |`);
  }
}

function memoryLabel(m: UNetMemory): string {
  return [`${m.ffPieces} / ${m.attentionPieces}`, m.split ? `split${m.layerSessions ? ' by layers' : ''}${m.skipsOnHost ? `, skips on host (${args.park})` : ''}` : '', m.rowByRow ? 'row by row' : ''].filter(Boolean).join(', ');
}

/** The UNet runner as the plan (or the flags) split it, its sessions, per-piece times and one CFG call's random feeds. */
async function openUNet(spec: ChildSpec) {
  const u = spec.unet!;
  const cfg: UNetConfig = parseUNetConfig(UNETS[u].config, `${u} config`);
  const [h, w] = [spec.height / 8, spec.width / 8];
  const sessions: [string, Session][] = [];
  const pieceMs = new Map<string, number>();
  const t0 = performance.now();
  // The provider's fused kernels (NHWC GroupNorm+SiLU, BiasSplitGelu, BiasAdd), as the SD pipeline builds its UNet.
  const kernels = new KernelChoice(fusedKernels(spec.ep));
  const unet = await kernels.create((k) => openUNetRunner(
    SafetensorsFile.open(join(spec.work, `${u}-unet.safetensors`)),
    cfg,
    () => ({ height: h, width: w, textLength: 77, dtype: spec.dtype, kernels: k, selfAttention: attentionSchedule({ kind: 'linfusion', path: join(spec.work, `${u}-linfusion`) }, 1)(0, 1).build() }),
    CFG_ROWS,
    spec.memory,
    async (part, build) => {
      const s = await Session.create(build(), { providers: [spec.ep], sharedArena: spec.memory?.split, profilePrefix: spec.profile ? join(spec.work, `profile-${part}`) : undefined });
      // A CUDA graph ORT refused, the planner's reuse left on, a provider that did not start: said once per piece.
      if (s.fallbacks.length) console.error(`  ${part}: ${s.describe()}`);
      sessions.push([part, s]);
      return s;
    },
    (piece, ms) => {
      pieceMs.set(piece, (pieceMs.get(piece) ?? 0) + ms);
      if (arenaLog.on) logArena(sessions, `after ${piece}`);
    },
  ));
  if (kernels.refusedBecause) console.error(`  fused kernels refused (${kernels.refusedBecause}); plain graphs`);
  const sessionS = (performance.now() - t0) / 1000;
  const rand = new Uniform(7);
  const feeds = {
    sample: tensor(rand.fill(new Float32Array(CFG_ROWS * 4 * h * w), 1.7), [CFG_ROWS, 4, h, w]),
    timestep: tensor(new Float32Array(CFG_ROWS).fill(999), [CFG_ROWS]),
    encoder_hidden_states: tensor(rand.fill(new Float32Array(CFG_ROWS * 77 * UNETS[u].text), 1.7), [CFG_ROWS, 77, UNETS[u].text]),
    ...(cfg.textTime
      ? {
          text_embeds: tensor(rand.fill(new Float32Array(CFG_ROWS * 1280), 1), [CFG_ROWS, 1280]),
          time_ids: tensor(new Float32Array(CFG_ROWS * 6).map((_, i) => [spec.height, spec.width, 0, 0, spec.height, spec.width][i % 6]), [CFG_ROWS, 6]),
        }
      : {}),
  };
  return { unet, sessions, pieceMs, feeds, kernels, cfg, sessionS };
}

/**
 * The CUDA arena's statistics (native sessions; a shared arena's are the process's): in use now, the most in use so
 * far, and what the arena holds from the device. The most in use against what it holds: live tensors or fragmentation.
 */
function logArena(sessions: [string, Session][], when: string): void {
  const inner = sessions[0]?.[1].inner;
  if (!(inner instanceof NativeSession)) return;
  try {
    const s = inner.arenaStats();
    const gib = (b: number | undefined) => (b === undefined ? '?' : (b / 2 ** 30).toFixed(2));
    console.error(`  arena ${when}: in use ${gib(s.InUse)} GiB, most in use ${gib(s.MaxInUse)} GiB, held ${gib(s.TotalAllocated)} GiB, largest ${gib(s.MaxAllocSize)} GiB, ${s.NumAllocs} allocations, ${s.NumArenaExtensions} extensions`);
  } catch (e) {
    console.error(`  arena ${when}: no statistics (${(e as Error).message})`);
  }
}

async function runUNet(spec: ChildSpec): Promise<ChildResult> {
  const { unet, sessions, pieceMs, feeds, kernels, sessionS } = await openUNet(spec);
  logArena(sessions, 'after the sessions');
  let t0 = performance.now();
  arenaLog.on = true;
  await unet.run(feeds);
  const firstMs = performance.now() - t0;
  arenaLog.on = false;
  logArena(sessions, 'after the first call');
  if (spec.calls > 0) pieceMs.clear();
  const times: number[] = spec.calls > 0 ? [] : [firstMs];
  for (let i = 0; i < spec.calls; i++) {
    t0 = performance.now();
    const out = await unet.run(feeds);
    times.push(performance.now() - t0);
    if (!out.every(Number.isFinite)) throw new Error('the UNet gave NaN/Inf');
  }
  const profiles: Record<string, string> = {};
  for (const [part, s] of sessions) {
    if (spec.profile && s.inner instanceof NativeSession) profiles[part] = profileSummary(s.inner.endProfiling(), 1 + spec.calls);
    await s.release();
  }
  times.sort((a, b) => a - b);
  const pieces = Object.fromEntries([...pieceMs].map(([k, ms]) => [k, ms / Math.max(1, spec.calls) / 1000]));
  return { sessionS, firstMs, callMs: times[Math.floor(times.length / 2)], pieceS: pieceMs.size ? pieces : undefined, profiles: Object.keys(profiles).length ? profiles : undefined, provider: `${unet.provider}${kernels.refusedBecause || !fusedKernels(spec.ep) ? '' : ', fused kernels'}`, maxRssGb: process.resourceUsage().maxRSS / 2 ** 20 };
}

/**
 * --end-to-end: one stage as the studio runs it, in one process: the tiled VAE encode of the stage's image, the
 * ladder's CFG calls on its latents (each timed; an Euler-like update between calls), the tiled VAE decode. Each part
 * releases its sessions before the next, so each part's GPU peak (nvidia-smi above the part's start) is its own.
 */
async function runStage(spec: ChildSpec): Promise<ChildResult> {
  const part = async <T>(name: string, gpu: Record<string, number | undefined>, body: () => Promise<T>): Promise<T> => {
    const sampler = startGpuMemorySampler(join(spec.work, `gpu-${name}.csv`), spec.ep !== 'cpu');
    try {
      return await body();
    } finally {
      gpu[name] = sampler?.stop();
    }
  };
  const partGpuGb: Record<string, number | undefined> = {};
  const { width, height } = spec;
  const rand = new Uniform(11);
  const planned = { vaeTile: spec.vaeTile, vaeTilesPerRun: spec.vaeTilesPerRun, sharedArena: spec.memory.split };
  const openVae = () => new Vae(SafetensorsFile.open(join(spec.work, 'vae.safetensors')), vaeConfigFromDiffusers(SD_VAE_CONFIG, 'SD VAE'), { session: { providers: [spec.ep] }, decodeDtype: spec.dtype, encodeDtype: spec.dtype, kernels: fusedKernels(spec.ep) });
  let tiles = 1;
  let t0 = performance.now();
  const latents = await part('encode', partGpuGb, async () => {
    const vae = openVae();
    const image = { data: rand.fill(new Float32Array(3 * width * height), 1), dims: [1, 3, height, width] as const };
    const encoded = await vae.encode(image, rand.fill(new Float32Array(4 * (width / 8) * (height / 8)), 1), (_, total) => (tiles = total), planned);
    await vae.release();
    return encoded.latents;
  });
  const encodeS = (performance.now() - t0) / 1000;
  console.error(`  encoded in ${encodeS.toFixed(2)} s (${tiles} tiles)`);
  const callsS: number[] = [];
  let sessionS = 0;
  let provider = '';
  const pieceMs = await part('unet', partGpuGb, async () => {
    const opened = await openUNet(spec);
    sessionS = opened.sessionS;
    provider = opened.unet.provider;
    const n = latents.data.length;
    const sample = opened.feeds.sample.data as Float32Array;
    for (let i = 0; i < spec.calls; i++) {
      sample.set(latents.data, 0);
      sample.set(latents.data, n);
      t0 = performance.now();
      const eps = await opened.unet.run(opened.feeds);
      callsS.push((performance.now() - t0) / 1000);
      if (!eps.every(Number.isFinite)) throw new Error('the UNet gave NaN/Inf');
      for (let j = 0; j < n; j++) latents.data[j] -= 0.01 * (eps[j] + 7.5 * (eps[n + j] - eps[j]));
      console.error(`  CFG call ${i + 1}/${spec.calls}: ${callsS[i].toFixed(2)} s`);
    }
    for (const [, s] of opened.sessions) await s.release();
    return opened.pieceMs;
  });
  t0 = performance.now();
  await part('decode', partGpuGb, async () => {
    const vae = openVae();
    await vae.decode(latents, undefined, planned);
    await vae.release();
  });
  const decodeS = (performance.now() - t0) / 1000;
  const pieceS = Object.fromEntries([...pieceMs].map(([k, ms]) => [k, ms / Math.max(1, spec.calls) / 1000]));
  return { sessionS, encodeS, decodeS, tiles, callsS, partGpuGb, pieceS: pieceMs.size ? pieceS : undefined, provider, maxRssGb: process.resourceUsage().maxRSS / 2 ** 20 };
}

async function runVae(spec: ChildSpec): Promise<ChildResult> {
  const cfg = vaeConfigFromDiffusers(SD_VAE_CONFIG, 'SD VAE');
  const vae = new Vae(SafetensorsFile.open(join(spec.work, 'vae.safetensors')), cfg, { session: { providers: [spec.ep] }, decodeDtype: spec.dtype, encodeDtype: spec.dtype, kernels: fusedKernels(spec.ep) });
  const rand = new Uniform(11);
  const { width, height, vaeTile: tile } = spec;
  const planned = { vaeTile: tile, vaeTilesPerRun: spec.vaeTilesPerRun };
  // One tile's decode alone, twice: the first builds the session the tiled decode reuses; the second is the GPU's time per tile.
  const [th, tw] = [Math.min(tile ?? Infinity, height / 8), Math.min(tile ?? Infinity, width / 8)];
  const oneTile = { data: rand.fill(new Float32Array(4 * th * tw), 1), dims: [1, 4, th, tw] as const };
  let t1 = performance.now();
  await vae.decode(oneTile, undefined, planned);
  const tileFirstS = (performance.now() - t1) / 1000;
  t1 = performance.now();
  await vae.decode(oneTile, undefined, planned);
  const tileS = (performance.now() - t1) / 1000;
  console.error(`  one ${tw * 8}×${th * 8} VAE tile decoded in ${tileFirstS.toFixed(2)} s (first) / ${tileS.toFixed(2)} s`);
  let tiles = 1;
  const image = { data: rand.fill(new Float32Array(3 * width * height), 1), dims: [1, 3, height, width] as const };
  let t0 = performance.now();
  const encoded = await vae.encode(image, rand.fill(new Float32Array(4 * (width / 8) * (height / 8)), 1), (_, total) => (tiles = total), planned);
  const encodeS = (performance.now() - t0) / 1000;
  console.error(`  encoded in ${encodeS.toFixed(2)} s (${tiles} tiles)`);
  t0 = performance.now();
  await vae.decode(encoded.latents, undefined, planned);
  const decodeS = (performance.now() - t0) / 1000;
  await vae.release();
  return { sessionS: 0, encodeS, decodeS, tiles, tileFirstS, tileS, provider: spec.ep, maxRssGb: process.resourceUsage().maxRSS / 2 ** 20 };
}
