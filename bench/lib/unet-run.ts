// One benchmark configuration of the SD UNet (variant × size), meant to run alone in a child process so
// its peak resident memory is its own: graph build, session creation, a warm-up step, timed steps.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { SafetensorsFile } from '../../pipelines/io/safetensors.ts';
import type { Graph } from '../../pipelines/onnx/graph.ts';
import { parseUNetConfig } from '../../pipelines/models/unet/config.ts';
import { buildUNet } from '../../pipelines/models/unet/unet.ts';
import { unetSessionOptions } from '../../pipelines/models/unet/runner.ts';
import { WHOLE } from '../../pipelines/models/unet/memory.ts';
import { ATTENTION_KINDS, type Attention } from '../../pipelines/attention/options.ts';
import { attentionSchedule } from '../../pipelines/attention/registry.ts';
import type { SelfAttentionVariant } from '../../pipelines/attention/self-attention.ts';
import { Session, ort, ortErrorReason, tensor, type Provider } from '../../pipelines/runtime/session.ts';
import { SD15_UNET_CONFIG } from './unet-tensors.ts';
import { allFinite } from '../../pipelines/runtime/result-checks.ts';
import { fusedKernels } from '../../pipelines/runtime/kernels.ts';
import { parseCudaTuning } from '../../pipelines/runtime/native/cuda-options.ts';
import { NativeSession } from '../../pipelines/runtime/native/native-session.ts';

/** Every registered variant, plus AgentSD's late phase (plain ToMe) on its own. */
export const VARIANTS = [...ATTENTION_KINDS, 'agent-late'] as const;
export type VariantName = (typeof VARIANTS)[number];
export const BATCH = 2;

export interface RunSpec {
  ep: Provider;
  dtype: 'float32' | 'float16';
  variant: VariantName;
  /** Image size in pixels (square); the latent is size / 8. */
  size: number;
  steps: number;
  weights: string;
  linfusion: string;
  /** Holds inputs-SIZE.safetensors; the output is written there as ort-VARIANT-SIZE.f32. */
  work: string;
  /** The UNet's diffusers config (default: SD 1.5's). */
  unetConfig?: Record<string, unknown>;
  /** Inputs file and output file names inside `work` (defaults as above). */
  inputsFile?: string;
  outputFile?: string;
  /** Emit the provider's fused kernels (graph-builder capability flags, pipelines/runtime/kernels.ts). */
  fused?: boolean;
  /** CUDA provider options for the native session (runtime/native/cuda-options.ts); none: onnxruntime-node. */
  tuning?: string;
  /** Profile the timed steps with ORT's profiler (native session only) and summarise the time per op type. */
  profile?: boolean;
}

export interface RunResult {
  buildMs: number;
  nodes: number;
  sessionS: number;
  provider: string;
  note?: string;
  firstMs: number;
  stepsMs: number[];
  /** Process CPU time (user + system, all threads) of each timed step: less sensitive to a busy machine. */
  stepsCpuS: number[];
  maxRssGb: number;
  finite: boolean;
  /** The graph had the provider's fused kernels. */
  fused: boolean;
}

export interface Variant {
  attention: SelfAttentionVariant;
  /** Extra graph inputs per step (AgentSD's partitions). */
  feeds(): Record<string, ort.Tensor>;
}

export function makeVariant(name: VariantName, linfusionDir: string): Variant {
  const request: Attention = name === 'agent-late' ? { kind: 'agent' } : name === 'linfusion' ? { kind: 'linfusion', path: linfusionDir } : { kind: name };
  // A 50-step run (AgentSD's own): step 0 is the agent phase, step 49 the ToMe phase.
  const phase = attentionSchedule(request, 1)(name === 'agent-late' ? 49 : 0, 50);
  const attention = phase.build();
  return { attention, feeds: () => phase.feeds?.(attention, BATCH) ?? {} };
}

/**
 * Untimed runs after the first one before the timed steps: none, or two where the session runs a CUDA graph, as the
 * studio's whole UNet does (models/unet/runner.ts). ORT's CUDA provider captures on the third run of a session, after
 * two regular ones (min_num_runs_before_cuda_graph_capture_), so the capture stays out of the timed steps.
 */
export const graphWarmUps = (session: Session): number => (session.inner instanceof NativeSession && session.inner.cudaGraph ? 2 : 0);

/** The studio's whole-UNet session options (a CUDA graph), except when profiling: ORT's profile sees no node inside a replayed graph. */
export const unetRunOptions = (profilePrefix: string | undefined) => (profilePrefix ? { cudaGraph: false } : unetSessionOptions(WHOLE));

export function buildFor(spec: Pick<RunSpec, 'weights' | 'size' | 'dtype'> & Partial<Pick<RunSpec, 'unetConfig' | 'fused' | 'ep'>>, attention: SelfAttentionVariant, graph?: Graph): Graph {
  const latent = spec.size / 8;
  const cfg = parseUNetConfig(spec.unetConfig ?? SD15_UNET_CONFIG, 'UNet config (bench)');
  const kernels = spec.fused && spec.ep ? fusedKernels(spec.ep) : undefined;
  return buildUNet(SafetensorsFile.open(spec.weights), cfg, { batch: BATCH, height: latent, width: latent, dtype: spec.dtype, selfAttention: attention, graph, kernels }).graph;
}

async function createSession(graph: Graph, ep: Provider, tuning?: string, profilePrefix?: string): Promise<{ session: Session; note?: string }> {
  if (ep === 'cpu') return { session: await Session.create(graph, { providers: ['cpu'] }) };
  const cudaTuning = tuning ? parseCudaTuning(tuning) : 'binding';
  const studio = unetRunOptions(profilePrefix);
  try {
    return { session: await Session.create(graph, { providers: [ep], forbidCpuFallback: true, cudaTuning, profilePrefix, ...studio }) };
  } catch (e) {
    const message = (e as Error).message;
    const note = /fallback to CPU EP has been explicitly disabled/.test(message)
      ? `some nodes have no ${ep} kernel and run on the CPU EP`
      : `refused without CPU fallback (${message.slice(0, 160)}); run with it`;
    return { session: await Session.create(graph, { providers: [ep], cudaTuning, ...studio }), note };
  }
}

export async function runConfiguration(spec: RunSpec): Promise<RunResult> {
  try {
    return await measure(spec);
  } catch (e) {
    if (spec.tuning) {
      // The native session refused (no provider library, an option this build lacks): the binding's, said so.
      const result = await runConfiguration({ ...spec, tuning: undefined });
      return { ...result, note: [`native session failed (${ortErrorReason(e).slice(0, 200)}); onnxruntime-node's session`, result.note].filter(Boolean).join('; ') };
    }
    if (!spec.fused) throw e;
    // A fused kernel the provider build refuses (or computes wrongly at this shape): the plain graph, said so.
    const result = await measure({ ...spec, fused: false });
    return { ...result, note: [`fused kernels refused (${ortErrorReason(e).slice(0, 200)}); plain graph`, result.note].filter(Boolean).join('; ') };
  }
}

async function measure(spec: RunSpec): Promise<RunResult> {
  const variant = makeVariant(spec.variant, spec.linfusion);
  let t0 = performance.now();
  const graph = buildFor(spec, variant.attention);
  const buildMs = performance.now() - t0;

  t0 = performance.now();
  const profilePrefix = spec.profile ? join(spec.work, `profile-${spec.variant}-${spec.size}`) : undefined;
  const { session, note } = await createSession(graph, spec.ep, spec.tuning, profilePrefix);
  const sessionS = (performance.now() - t0) / 1000;
  if (session.inner instanceof NativeSession) console.error(`  CUDA provider options as ORT took them: ${session.inner.providerOptions}`);

  const inputs = SafetensorsFile.open(join(spec.work, spec.inputsFile ?? `inputs-${spec.size}.safetensors`));
  const base = Object.fromEntries(session.inner.inputNames.filter((k) => inputs.has(k)).map((k) => [k, tensor(inputs.readFloat32(k), inputs.info(k).shape)]));
  const step = async () => (await session.run({ ...base, ...variant.feeds() })).model_output.data as Float32Array;

  t0 = performance.now();
  const out = await step().catch(async (e: unknown) => {
    await session.release();
    throw e;
  });
  const firstMs = performance.now() - t0;
  if (spec.fused && !allFinite(out)) {
    await session.release();
    throw new Error('the fused graph gave NaN/Inf');
  }
  for (let i = graphWarmUps(session); i > 0; i--) await step();
  const stepsMs: number[] = [];
  const stepsCpuS: number[] = [];
  for (let i = 0; i < spec.steps; i++) {
    t0 = performance.now();
    const cpu0 = process.cpuUsage();
    await step();
    const cpu = process.cpuUsage(cpu0);
    stepsMs.push(performance.now() - t0);
    stepsCpuS.push((cpu.user + cpu.system) / 1e6);
  }
  writeFileSync(join(spec.work, spec.outputFile ?? `ort-${spec.variant}-${spec.size}.f32`), new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
  const profile = profilePrefix && session.inner instanceof NativeSession ? profileSummary(session.inner.endProfiling(), spec.steps + 1) : undefined;
  await session.release();
  return {
    buildMs,
    nodes: graph.summary().nodes,
    fused: spec.fused ?? false,
    sessionS,
    provider: session.provider,
    note: [note, profile].filter(Boolean).join('; ') || undefined,
    firstMs,
    stepsMs,
    stepsCpuS,
    maxRssGb: process.resourceUsage().maxRSS / 2 ** 20,
    finite: allFinite(out),
  };
}

// ORT's op types in the classes that bench/unet_profile_torch.py sorts PyTorch's kernels into.
const OP_CLASSES: [string, RegExp][] = [
  ['attention', /Attention/],
  ['conv', /Conv/],
  ['GEMM', /MatMul|Gemm/],
  ['norm', /Norm/],
  ['copy/cast/transpose', /Transpose|Cast|Concat|Split|Slice|Reshape|Memcpy|Expand|ReorderInput|ReorderOutput/],
];

/**
 * "profile (ms per step, profiler on): total …; by class conv 9.1, …; Conv 12.1, MultiHeadAttention 9.8, …" from ORT's
 * trace of `runs` runs. On CUDA, ORT times a node on the host: the kernels' GPU time only where launches wait for them
 * (CUDA_LAUNCH_BLOCKING=1). The first run (cuDNN's algorithm choice, attention plans, arena growth: seconds on a
 * GPU) is left out where the trace marks runs (ORT's `model_run` events).
 */
export function profileSummary(traceFile: string, runs: number): string {
  const events = JSON.parse(readFileSync(traceFile, 'utf8')) as { cat?: string; name?: string; ts?: number; dur?: number; args?: { op_name?: string } }[];
  const starts = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').map((e) => e.ts ?? 0).sort((a, b) => a - b);
  const from = starts.length > 1 ? starts[1] : -Infinity;
  const counted = starts.length > 1 ? starts.length - 1 : runs;
  const byOp = new Map<string, number>();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name?.endsWith('_kernel_time') || !e.args?.op_name || (e.ts ?? 0) < from) continue;
    byOp.set(e.args.op_name, (byOp.get(e.args.op_name) ?? 0) + (e.dur ?? 0));
  }
  const byClass = new Map<string, number>();
  for (const [op, us] of byOp) {
    const c = OP_CLASSES.find(([, rx]) => rx.test(op))?.[0] ?? 'elementwise/other';
    byClass.set(c, (byClass.get(c) ?? 0) + us);
  }
  const total = [...byOp.values()].reduce((a, b) => a + b, 0);
  const top = [...byOp].sort((a, b) => b[1] - a[1]).slice(0, 16);
  const ms = (us: number) => (us / 1000 / counted).toFixed(1);
  const which = starts.length > 1 ? `${counted} runs after the first` : `${counted} runs`;
  return `profile (ms per step over ${which}, profiler on; kernel time as ORT's host sees it): total ${ms(total)}; by class ${[...byClass].sort((a, b) => b[1] - a[1]).map(([c, us]) => `${c} ${ms(us)}`).join(', ')}; ${top.map(([op, us]) => `${op} ${ms(us)}`).join(', ')}`;
}
