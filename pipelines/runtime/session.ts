// One ORT session for one built graph, on the first execution provider in a list that accepts it.
import * as ort from 'onnxruntime-node';
import type { Graph } from '../onnx/graph.ts';
import { capturesCudaGraph, parseCudaTuning, type CudaTuning } from './native/cuda-options.ts';
import { lowerForProvider } from './lowering.ts';
import type { NativeDeviceValue } from './native/native-session.ts';
import { HeldTensor } from './held-tensor.ts';

export type Provider = 'cuda' | 'dml' | 'coreml' | 'webgpu' | 'cpu';

export interface SessionOptions {
  /** Providers to try in order; the first whose session can be created is used. Default: cpu. */
  providers?: readonly Provider[];
  intraOpThreads?: number;
  /** Keep these outputs on the device between runs (WebGPU/CUDA only). */
  keepOnDevice?: readonly string[];
  /** Refuse to silently run some nodes on the CPU when a GPU provider is used. */
  forbidCpuFallback?: boolean;
  logSeverity?: 0 | 1 | 2 | 3 | 4;
  /**
   * Graph optimizations (default on). Off for graphs that run once over initializers only (the LoRA merge):
   * ORT's constant folding would evaluate them at creation, ~4× slower than running them (bench/NOTES.md).
   */
  optimize?: boolean;
  /**
   * CUDA provider options, which need the native session (ORT's C API: runtime/native) because
   * onnxruntime-node passes the CUDA provider a device id only. Default: STUDIO_CUDA_TUNING from the
   * environment (`studio`, `default` or a list: native/cuda-options.ts; `binding` for onnxruntime-node's
   * own untuned session), else the studio's tuning.
   */
  cudaTuning?: CudaTuning | 'binding';
  /**
   * Native CUDA sessions: draw from the process's one arena per device (CudaTuning.sharedArena) whatever the
   * tuning says, for sessions that run one after another on the same data (a UNet split into pieces).
   */
  sharedArena?: boolean;
  /**
   * Native CUDA sessions: `true` when the caller runs one set of input shapes through run() only, so the session
   * captures a CUDA graph (unless the tuning says graph=0; when ORT refuses, it runs without and says why in
   * describe()); `false` when it hands tensors on (runKeeping) or changes shapes: never a graph. Left out: the
   * tuning's graph= alone (off by default). native/cuda-options.ts, capturesCudaGraph.
   */
  cudaGraph?: boolean;
  /** Native sessions only: write ORT's per-node profile to files starting with this path. */
  profilePrefix?: string;
  /**
   * CPU graphs: ORT's session through its C API without the planner's buffer reuse (`native`, less memory), or
   * onnxruntime-node's (`binding`). Default: STUDIO_CPU_SESSION, else native.
   */
  cpuSession?: 'native' | 'binding';
  /**
   * Rewrite the graph for the first provider's kernels (lowering.ts; CPU-equal) before serialising it.
   * Default on; off to measure the graph as built.
   */
  lowering?: boolean;
}

/** What the studio uses of an ORT session: onnxruntime-node's, or the native one for tuned CUDA. */
export interface SessionBackend {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, ort.Tensor>, o?: RunOptions): Promise<Record<string, ort.Tensor>>;
  /** Native sessions only: a run whose `keep` outputs stay in the device's memory. */
  runKeeping?(feeds: Record<string, ort.Tensor | NativeDeviceValue>, keep: readonly string[], o?: RunOptions, park?: readonly string[]): Promise<{ host: Record<string, ort.Tensor>; device: Record<string, NativeDeviceValue> }>;
  release(): Promise<void>;
}

export interface RunOptions {
  /**
   * Give the session's free arena memory back to the device after this run (native sessions; onnxruntime-node's
   * run options cannot ask for it, so its sessions ignore this): the last step of a stage, a graph run once per image.
   */
  releaseArena?: boolean;
}

export interface ProviderAttempt {
  provider: Provider;
  error: string;
}

/** A graph already turned into ModelProto bytes (what the session cache hashes). */
export interface SerializedGraph {
  name: string;
  bytes: Uint8Array;
  externalDataFolder?: string;
  outputNames: readonly string[];
}

/** The graph as ModelProto bytes, first lowered in place for the first provider of `o` (lowering.ts). */
export function serializeGraph(graph: Graph, o: Pick<SessionOptions, 'providers' | 'lowering'> = {}): SerializedGraph {
  if (o.lowering !== false) lowerForProvider(graph, o.providers?.[0] ?? 'cpu');
  const { bytes, externalDataFolder } = graph.serialize();
  return { name: graph.name, bytes, externalDataFolder, outputNames: graph.outputNames };
}

export class Session {
  private releasedBecause?: string;

  private constructor(
    readonly inner: SessionBackend,
    readonly provider: Provider,
    /** Providers that were tried first and refused, with why. */
    readonly fallbacks: readonly ProviderAttempt[],
    readonly graphName: string,
  ) {}

  /** The studio's session over a backend made elsewhere (a native CPU session, to run the native code path on the CPU). */
  static over(inner: SessionBackend, provider: Provider, graphName: string): Session {
    return new Session(inner, provider, [], graphName);
  }

  static create(graph: Graph, o: SessionOptions = {}): Promise<Session> {
    return Session.fromSerialized(serializeGraph(graph, o), o);
  }

  static async fromSerialized(model: SerializedGraph, o: SessionOptions = {}): Promise<Session> {
    const providers = o.providers?.length ? o.providers : (['cpu'] as const);
    const attempts: ProviderAttempt[] = [];
    const asked = o.cudaTuning ?? cudaTuningFromEnvironment();
    const cudaTuning = asked === 'binding' ? undefined : asked;
    for (const provider of providers) {
      try {
        const native = (provider === 'cuda' && cudaTuning) || (provider === 'cpu' && (o.cpuSession ?? cpuSessionFromEnvironment()) === 'native');
        if (native) {
          // The native session, and onnxruntime-node's (untuned) when the native one cannot start here.
          try {
            const inner = await nativeBackend(model, provider as 'cuda' | 'cpu', o, cudaTuning);
            if (inner.note) attempts.push({ provider, error: inner.note });
            return new Session(inner, provider, attempts, model.name);
          } catch (e) {
            attempts.push({ provider, error: `${provider === 'cuda' ? 'tuned ' : ''}native session refused (${ortErrorReason(e)}); onnxruntime-node's session instead` });
          }
        }
        const inner = bindingBackend(await ort.InferenceSession.create(model.bytes, ortOptions(model, provider, o)));
        return new Session(inner, provider, attempts, model.name);
      } catch (e) {
        attempts.push({ provider, error: ortErrorReason(e) });
      }
    }
    throw new Error(`no execution provider could run graph "${model.name}": ${attempts.map((a) => `${a.provider}: ${a.error}`).join('; ')}`);
  }

  /** One line naming the provider in use and why each better one in the list was refused. */
  describe(): string {
    const refused = this.fallbacks.map((a) => (a.provider === this.provider ? `; ${a.error}` : `; ${a.provider} refused it: ${a.error}`)).join('');
    return `graph "${this.graphName}" runs on ${this.provider}${refused}`;
  }

  get released(): boolean {
    return this.releasedBecause !== undefined;
  }

  async run(feeds: Record<string, ort.Tensor>, o: RunOptions = {}): Promise<Record<string, ort.Tensor>> {
    if (this.releasedBecause !== undefined) {
      throw new Error(`session for graph "${this.graphName}" was released (${this.releasedBecause}); create it again`);
    }
    return this.inner.run(feeds, o);
  }

  /**
   * A run whose `keep` outputs are returned as HeldTensors, in GPU memory where the backend can keep them there
   * (native CUDA sessions), else on the host; HeldTensor feeds go back in without a copy. `park` outputs are
   * HeldTensors in host memory: native values in pinned memory for native sessions (NativeSession.runKeeping),
   * host tensors for the others. The caller releases them.
   */
  async runKeeping(feeds: Record<string, ort.Tensor | HeldTensor>, keep: readonly string[], o: RunOptions = {}, park: readonly string[] = []): Promise<{ host: Record<string, ort.Tensor>; held: Record<string, HeldTensor> }> {
    if (this.releasedBecause !== undefined) {
      throw new Error(`session for graph "${this.graphName}" was released (${this.releasedBecause}); create it again`);
    }
    const inner = this.inner;
    if (inner.runKeeping) {
      const input = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, v instanceof HeldTensor ? (v.deviceValue ?? v.hostTensor) : v]));
      const { host, device } = await inner.runKeeping(input, keep, o, park);
      return { host, held: Object.fromEntries(Object.entries(device).map(([k, v]) => [k, HeldTensor.onDevice(v)])) };
    }
    const input = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, v instanceof HeldTensor ? v.hostTensor : v]));
    const out = await inner.run(input, o);
    const kept = new Set([...keep, ...park]);
    return {
      host: Object.fromEntries(Object.entries(out).filter(([k]) => !kept.has(k))),
      held: Object.fromEntries(Object.entries(out).filter(([k]) => kept.has(k)).map(([k, v]) => [k, HeldTensor.onHost(v)])),
    };
  }

  /** Frees the native session. `why` is repeated in the error of a later `run`. */
  async release(why = 'release() was called'): Promise<void> {
    if (this.releasedBecause !== undefined) return;
    this.releasedBecause = why;
    await this.inner.release();
  }
}

/**
 * ORT's session through its C API (runtime/native): CUDA with the studio's provider tuning; the CPU without the
 * allocation planner's buffer reuse (a full-size SD 1.5 UNet step on the CPU, batch 2, above its weights: 4.59 → 1.76
 * GiB at 1024², 1.07 → 0.34 at 512², bench/cpu-sessions.ts, bench/NOTES.md session 8), running on koffi's worker threads so that a long CPU
 * step leaves the caller's event loop free, as onnxruntime-node's own run does.
 */
async function nativeBackend(model: SerializedGraph, provider: 'cuda' | 'cpu', o: SessionOptions, cudaTuning: CudaTuning | undefined) {
  const { NativeSession } = await import('./native/native-session.ts');
  const common = { config: prefixed(sessionConfig(provider, o)), intraOpThreads: o.intraOpThreads, optimize: o.optimize, logSeverity: o.logSeverity, profilePrefix: o.profilePrefix };
  if (provider === 'cpu') return NativeSession.create(model, { provider, plannerReuse: false, runOn: 'worker', ...common });
  const tuning = cudaTuning ?? {}; // CUDA reaches here only with a tuning; the default keeps the type narrow
  const cuda = { ...tuning, sharedArena: o.sharedArena || tuning.sharedArena, enableCudaGraph: capturesCudaGraph(tuning, o.cudaGraph) };
  return NativeSession.create(model, { provider, cuda, memPattern: tuning.memPattern, plannerReuse: tuning.plannerReuse, ...common });
}

/** onnxruntime-node's session as a backend; its run options cannot release the arena, so `releaseArena` is ignored. */
function bindingBackend(session: ort.InferenceSession): SessionBackend {
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    run: (feeds) => session.run(feeds) as Promise<Record<string, ort.Tensor>>,
    release: () => session.release(),
  };
}

/**
 * Session config entries per provider. onnxruntime-node hands the CUDA provider only a device id (no
 * arena strategy, memory limit, cuDNN search or CUDA graphs: bench/NOTES.md), so what it does allow is
 * set here: weights go to the GPU with plain allocations instead of through the arena, whose
 * power-of-two growth would round 1.7 GB of SD 1.5 fp16 weights up towards 2–4 GB.
 */
export const PROVIDER_SESSION_CONFIG: Partial<Record<Provider, Record<string, string>>> = {
  cuda: { 'session.use_device_allocator_for_initializers': '1' },
};

const prefixed = (config: Record<string, string>) => Object.fromEntries(Object.entries(config).map(([k, v]) => [`session.${k}`, v]));

/** Session config entries without their `session.` prefix (external weights are the native session's own). */
function sessionConfig(provider: Provider, o: SessionOptions): Record<string, string> {
  const config: Record<string, string> = {};
  if (o.forbidCpuFallback && provider !== 'cpu') config.disable_cpu_ep_fallback = '1';
  return Object.assign(config, PROVIDER_SESSION_CONFIG[provider]);
}

function ortOptions(model: SerializedGraph, provider: Provider, o: SessionOptions): ort.InferenceSession.SessionOptions {
  const extraSession = sessionConfig(provider, o);
  if (model.externalDataFolder) extraSession.model_external_initializers_file_folder_path = model.externalDataFolder;
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: [provider],
    graphOptimizationLevel: o.optimize === false ? 'disabled' : 'all',
    logSeverityLevel: o.logSeverity ?? 3,
    extra: { session: extraSession },
  };
  // DirectML cannot run with memory patterns or parallel execution.
  if (provider === 'dml') Object.assign(options, { enableMemPattern: false, executionMode: 'sequential' });
  if (o.intraOpThreads) options.intraOpNumThreads = o.intraOpThreads;
  if (o.keepOnDevice?.length && provider !== 'cpu') {
    const keep = new Set(o.keepOnDevice);
    options.preferredOutputLocation = Object.fromEntries(model.outputNames.map((n) => [n, keep.has(n) ? 'gpu-buffer' : 'cpu']));
  }
  return options;
}

/** The useful part of an ORT error: its first line, without the C++ source location and failed check. */
export function ortErrorReason(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  const line = text.split('\n').map((s) => s.trim()).find(Boolean) ?? 'unknown error';
  const afterCheck = /was false\.\s*(.+)$/.exec(line);
  const reason = afterCheck ? afterCheck[1] : line;
  return reason.length > 300 ? `${reason.slice(0, 297)}...` : reason;
}

/** Which session CPU graphs get: STUDIO_CPU_SESSION=binding asks for onnxruntime-node's; else the native one. */
export function cpuSessionFromEnvironment(): 'native' | 'binding' {
  const text = process.env.STUDIO_CPU_SESSION ?? 'native';
  if (text !== 'native' && text !== 'binding') throw new Error(`STUDIO_CPU_SESSION="${text}" is not understood; use native or binding`);
  return text;
}

/** The CUDA tuning STUDIO_CUDA_TUNING asks for (else the studio's); undefined for `binding`: onnxruntime-node's session. */
export function cudaTuningFromEnvironment(): CudaTuning | undefined {
  const text = process.env.STUDIO_CUDA_TUNING ?? 'studio';
  return text === 'binding' ? undefined : parseCudaTuning(text);
}

export function tensor(data: Float32Array, dims: readonly number[]): ort.Tensor {
  return new ort.Tensor('float32', data, dims);
}

/** A float16 tensor from raw half-precision bits (Node 20 has no Float16Array). */
export function f16Tensor(bits: Uint16Array, dims: readonly number[]): ort.Tensor {
  return new ort.Tensor('float16', bits, dims);
}

export { ort, HeldTensor };
