// An ORT session created through the C API (ort-c-api.ts) instead of onnxruntime-node's binding, so that
// the CUDA provider gets its full options (cuda-options.ts). Same surface as the binding's session for what
// the studio uses (input/output names, run with ort.Tensor feeds, release), same outputs: tests compare the
// two on the CPU provider.
import { basename } from 'node:path';
import koffi from 'koffi';
import * as ort from 'onnxruntime-node';
import { ortCApi, type OrtCApi } from './ort-c-api.ts';
import { cudaProviderOptions, type CudaTuning } from './cuda-options.ts';
import { cudaMemoryCopy, hostMemoryCopy } from './device-copy.ts';
import { FixedBinding } from './fixed-binding.ts';
import { disablePlannerReuse } from './planner-reuse.ts';
import { describeValue, elementType, hostValueToTensor, tensorBytes } from './ort-values.ts';

export interface NativeSessionOptions {
  provider: 'cuda' | 'cpu';
  /** CUDA provider options (ignored on the CPU). */
  cuda?: CudaTuning;
  /** Session config entries (`session.*` keys), as onnxruntime-node's `extra.session`. */
  config?: Record<string, string>;
  intraOpThreads?: number;
  /** Graph optimizations (default on, ORT_ENABLE_ALL). */
  optimize?: boolean;
  /** ORT's memory-pattern planner (default on, as in onnxruntime-node). */
  memPattern?: boolean;
  /**
   * ORT's allocation planner handing dead buffers to later tensors of the same size (default on, ORT's default).
   * Off, the arena alone recycles memory and a session holds near its graph's own need (planner-reuse.ts).
   */
  plannerReuse?: boolean;
  /** 0 verbose … 4 fatal (default 3, errors). */
  logSeverity?: number;
  /** Write ORT's per-node profile (a Chrome trace) to files starting with this path; see endProfiling(). */
  profilePrefix?: string;
  /**
   * Where `Run` executes: `caller` (the calling thread, blocking it: the engine runs in its own worker
   * thread) or `worker` (koffi's async pool, which ran SD 1.5 at 1024² 12.6× slower on CUDA: 505.7 vs
   * 39.8 ms per step, bench/NOTES.md). Default: STUDIO_NATIVE_RUN, else `caller`.
   */
  runOn?: 'caller' | 'worker';
  /**
   * Every input and output at the same device address on every run (IO binding): new input values are copied
   * into the bound buffers and outputs read back from theirs. On by itself with `cuda.enableCudaGraph`, which
   * needs it; such a session runs one set of input shapes.
   */
  fixedBuffers?: boolean;
}

export interface RunOptions {
  /**
   * Give the arena's free chunks back to the device when the run ends (ORT's
   * `memory.enable_memory_arena_shrinkage`): between stages, or after every run of a graph that runs once
   * per image, so that one session's peak does not stay reserved while the next session runs.
   */
  releaseArena?: boolean;
}

export class NativeSession {
  private handle: unknown;

  private constructor(
    private readonly api: OrtCApi,
    handle: unknown,
    readonly inputNames: readonly string[],
    readonly outputNames: readonly string[],
    /** The CUDA provider options ORT reports it took (GetCUDAProviderOptionsAsString), for the log. */
    readonly providerOptions?: string,
    private readonly runOn: 'caller' | 'worker' = 'caller',
    /** The arena that `releaseArena` shrinks: `gpu:0` for CUDA device 0, `cpu:0` for the CPU; none when shared. */
    private readonly arena: string | undefined = 'cpu:0',
    /** Where outputs kept by runKeeping live: the CUDA device's memory, or the CPU's for CPU sessions. */
    private readonly deviceMemory: unknown = api.cpuMemory,
    /** Where outputs parked by runKeeping live: pinned host memory for CUDA (hostMemoryFor), the CPU's for CPU sessions. */
    private readonly hostMemory: unknown = api.cpuMemory,
    /** Runs through buffers at fixed addresses (fixedBuffers, CUDA graphs). */
    private fixed?: FixedBinding,
    /** Whether ORT captures and replays a CUDA graph. */
    readonly cudaGraph = false,
    /**
     * Set when an option asked for could not be had: a CUDA graph that ORT refused, or the planner's reuse that
     * could not be turned off; why, and how the session runs instead.
     */
    readonly note?: string,
  ) {
    this.handle = handle;
  }

  /** `model`: ModelProto bytes, and the folder its external weights are relative to (Graph.serialize()). */
  static async create(model: { bytes: Uint8Array; externalDataFolder?: string }, o: NativeSessionOptions): Promise<NativeSession> {
    const api = ortCApi();
    const wantsGraph = o.provider === 'cuda' && o.cuda?.enableCudaGraph === true;
    const device = o.cuda?.deviceId ?? 0;
    // Before the session, so that a missing CUDA runtime leaves nothing to release.
    const copy = o.fixedBuffers || wantsGraph ? (o.provider === 'cuda' ? cudaMemoryCopy(device) : hostMemoryCopy) : undefined;
    const { value: opened, granted: cudaGraph, note: graphNote } = await withCudaGraphFallback(wantsGraph, (graph) => openSession(api, model, o, graph));
    const { session, providerOptions } = opened;
    const note = [graphNote, opened.reuseNote].filter(Boolean).join('; ') || undefined;
    const names = (count: 'SessionGetInputCount' | 'SessionGetOutputCount', name: 'SessionGetInputName' | 'SessionGetOutputName') => {
      const n = [0];
      api.check(api.call[count](session, n), count);
      return Array.from({ length: Number(n[0]) }, (_, i) => api.takeString(api.out(name, session, i, api.defaultAllocator)));
    };
    const runOn = o.runOn ?? (process.env.STUDIO_NATIVE_RUN === 'worker' ? 'worker' : 'caller');
    const shared = o.provider === 'cuda' && o.cuda?.sharedArena === true;
    const arena = shared ? undefined : o.provider === 'cuda' ? `gpu:${device}` : 'cpu:0';
    // OrtArenaAllocator (1), OrtMemTypeDefault (0): the provider's own allocator for that device.
    const deviceMemory = o.provider === 'cuda' ? cudaMemory(api, device) : api.cpuMemory;
    const hostMemory = o.provider === 'cuda' ? hostMemoryFor(api, device) : api.cpuMemory;
    const outputNames = names('SessionGetOutputCount', 'SessionGetOutputName');
    let fixed: FixedBinding | undefined;
    if (copy && (o.fixedBuffers || cudaGraph)) {
      fixed = new FixedBinding(api, session, outputNames, deviceMemory, copy, cudaGraph ? 'the CUDA graph of this session' : 'this session (fixed buffers)');
    }
    return new NativeSession(api, session, names('SessionGetInputCount', 'SessionGetInputName'), outputNames, providerOptions, runOn, arena, deviceMemory, hostMemory, fixed, cudaGraph, note);
  }

  async run(feeds: Record<string, ort.Tensor>, o: RunOptions = {}): Promise<Record<string, ort.Tensor>> {
    if (!this.handle) throw new Error('the native session was released');
    if (this.fixed) return this.runFixed(this.fixed, feeds, o);
    const api = this.api;
    const names = Object.keys(feeds);
    // The inputs' bytes, referenced here until the run is over (ORT reads them during it).
    const buffers: Buffer[] = [];
    const values: unknown[] = [];
    let runOptions: unknown = null;
    try {
      for (const name of names) values.push(this.inputValue(name, feeds[name], buffers));
      runOptions = this.runOptions(o);
      const outputs: unknown[] = this.outputNames.map(() => null);
      const args = [this.handle, runOptions, names, values, names.length, [...this.outputNames], this.outputNames.length, outputs];
      const status = this.runOn === 'worker' ? await api.callAsync.Run(...args) : api.call.Run(...args);
      api.check(status, 'Run');
      const result: Record<string, ort.Tensor> = {};
      this.outputNames.forEach((name, i) => {
        try {
          result[name] = hostValueToTensor(api, outputs[i]);
        } finally {
          api.call.ReleaseValue(outputs[i]);
        }
      });
      return result;
    } finally {
      for (const v of values) api.call.ReleaseValue(v);
      if (runOptions) api.call.ReleaseRunOptions(runOptions);
      buffers.length = 0; // the last use of the inputs' bytes
    }
  }

  /**
   * A run whose `keep` outputs stay in the device's memory (ORT's IO binding) as NativeDeviceValues, which later
   * runs of this or another session on the same device take as inputs without a copy through the host.
   * `park` outputs become NativeDeviceValues in host memory instead: ORT copies them there at the end of the run
   * and back to the device when a later run reads them, at the link's speed for CUDA (pinned memory from the CUDA
   * provider's own pinned allocator), never through JS arrays. The other outputs come back as host tensors.
   * The caller releases the kept and parked values.
   */
  async runKeeping(feeds: Record<string, ort.Tensor | NativeDeviceValue>, keep: readonly string[], o: RunOptions = {}, park: readonly string[] = []): Promise<{ host: Record<string, ort.Tensor>; device: Record<string, NativeDeviceValue> }> {
    if (!this.handle) throw new Error('the native session was released');
    if (this.fixed) throw new Error("runKeeping: this session binds its inputs and outputs at fixed addresses (a CUDA graph: SessionOptions.cudaGraph or the tuning's graph=1; or fixedBuffers) and keeps no outputs on the device; use run(), or open sessions that hand tensors on with cudaGraph: false");
    const unknown = [...keep, ...park].filter((k) => !this.outputNames.includes(k));
    if (unknown.length) throw new Error(`runKeeping: ${unknown.join(', ')} not among the outputs (${this.outputNames.join(', ')})`);
    const api = this.api;
    const binding = api.out('CreateIoBinding', this.handle);
    const buffers: Buffer[] = [];
    const made: unknown[] = [];
    let runOptions: unknown = null;
    let bound: unknown = null;
    const host: Record<string, ort.Tensor> = {};
    const device: Record<string, NativeDeviceValue> = {};
    try {
      for (const [name, t] of Object.entries(feeds)) {
        let value: unknown;
        if (t instanceof NativeDeviceValue) value = t.handle;
        else made.push((value = this.inputValue(name, t, buffers)));
        api.check(api.call.BindInput(binding, name, value), `input "${name}"`);
      }
      const kept = new Set(keep);
      const parked = new Set(park);
      const memoryOf = (name: string) => (kept.has(name) ? this.deviceMemory : parked.has(name) ? this.hostMemory : api.cpuMemory);
      for (const name of this.outputNames) api.check(api.call.BindOutputToDevice(binding, name, memoryOf(name)), `output "${name}"`);
      runOptions = this.runOptions(o);
      api.check(api.call.RunWithBinding(this.handle, runOptions, binding), 'Run');
      const list: unknown[] = [null];
      const count = [0];
      api.check(api.call.GetBoundOutputValues(binding, api.defaultAllocator, list, count), 'GetBoundOutputValues');
      bound = list[0];
      // In the order they were bound: this.outputNames.
      const values = koffi.decode(bound, 'void *', Number(count[0])) as unknown[];
      this.outputNames.forEach((name, i) => {
        if (kept.has(name) || parked.has(name)) {
          const { type, dims } = describeValue(api, values[i]);
          device[name] = new NativeDeviceValue(api, values[i], type, dims, parked.has(name));
          return;
        }
        try {
          host[name] = hostValueToTensor(api, values[i]);
        } finally {
          api.call.ReleaseValue(values[i]);
        }
      });
      return { host, device };
    } finally {
      for (const v of made) api.call.ReleaseValue(v);
      if (runOptions) api.call.ReleaseRunOptions(runOptions);
      if (bound) api.check(api.call.AllocatorFree(api.defaultAllocator, bound), 'AllocatorFree');
      api.call.ReleaseIoBinding(binding);
      buffers.length = 0;
    }
  }

  private runFixed(fixed: FixedBinding, feeds: Record<string, ort.Tensor>, o: RunOptions): Record<string, ort.Tensor> {
    const runOptions = this.runOptions(o);
    try {
      return fixed.run(feeds, runOptions);
    } catch (e) {
      // ORT captures the graph on an early run; if that fails, the way out must be in the message.
      if (this.cudaGraph) throw new Error(`${(e as Error).message} (a CUDA graph session: STUDIO_CUDA_TUNING=studio,graph=0 runs without CUDA graphs)`, { cause: e });
      throw e;
    } finally {
      if (runOptions) this.api.call.ReleaseRunOptions(runOptions);
    }
  }

  private runOptions(o: RunOptions): unknown {
    if (!o.releaseArena || !this.arena) return null;
    const runOptions = this.api.out('CreateRunOptions');
    this.api.check(this.api.call.AddRunConfigEntry(runOptions, 'memory.enable_memory_arena_shrinkage', this.arena), 'arena shrinkage');
    return runOptions;
  }

  /**
   * The statistics of the allocator this session's outputs and intermediates come from on its device (ORT's
   * AllocatorGetStats: InUse, MaxInUse, TotalAllocated, NumAllocs, NumArenaExtensions… in bytes and counts): for a
   * shared arena, the whole process's. MaxInUse against TotalAllocated tells live tensors from arena fragmentation.
   */
  arenaStats(): Record<string, number> {
    if (!this.handle) throw new Error('the native session was released');
    const api = this.api;
    checkKeyValuePairs(api);
    const allocator = api.out('CreateAllocator', this.handle, this.deviceMemory);
    try {
      const kvps = api.out('AllocatorGetStats', allocator);
      try {
        const keys: unknown[] = [null];
        const values: unknown[] = [null];
        const count = [0];
        api.call.GetKeyValuePairs(kvps, keys, values, count);
        const n = Number(count[0]);
        const k = n ? (koffi.decode(keys[0], 'const char *', n) as string[]) : [];
        const v = n ? (koffi.decode(values[0], 'const char *', n) as string[]) : [];
        return Object.fromEntries(k.map((key, i) => [key, Number(v[i])]));
      } finally {
        api.call.ReleaseKeyValuePairs(kvps);
      }
    } finally {
      api.call.ReleaseAllocator(allocator);
    }
  }

  /** Stops profiling (profilePrefix) and returns the trace file's path. */
  endProfiling(): string {
    return this.api.takeString(this.api.out('SessionEndProfiling', this.handle, this.api.defaultAllocator));
  }

  async release(): Promise<void> {
    if (!this.handle) return;
    this.fixed?.release();
    this.fixed = undefined;
    this.api.call.ReleaseSession(this.handle);
    this.handle = undefined;
  }

  /** An OrtValue over a copy of the tensor's bytes (off the V8 heap, so the pointer stays valid). */
  private inputValue(name: string, t: ort.Tensor, keep: Buffer[]): unknown {
    const type = elementType(name, t);
    const data = tensorBytes(t);
    const bytes = Buffer.allocUnsafeSlow(Math.max(1, data.byteLength));
    bytes.set(data);
    keep.push(bytes);
    return this.api.out('CreateTensorWithDataAsOrtValue', this.api.cpuMemory, bytes, data.byteLength, BigInt64Array.from(t.dims, BigInt), t.dims.length, type);
  }
}

/** A tensor a native session left in its device's memory, or parked in host memory (runKeeping); release() frees it. */
export class NativeDeviceValue {
  private value: unknown;

  constructor(
    private readonly api: OrtCApi,
    value: unknown,
    readonly type: ort.Tensor.Type,
    readonly dims: readonly number[],
    /** Parked in host memory (runKeeping's `park`) rather than kept in the device's. */
    readonly inHostMemory = false,
  ) {
    this.value = value;
  }

  get handle(): unknown {
    if (!this.value) throw new Error('this device tensor was released');
    return this.value;
  }

  release(): void {
    if (!this.value) return;
    this.api.call.ReleaseValue(this.value);
    this.value = undefined;
  }
}

let keyValuePairsChecked = false;

/**
 * Proves the positions of ORT 1.23's key-value entries (a pair written and read back) before arenaStats uses them and
 * AllocatorGetStats beside them: a wrong position would call some other function.
 */
function checkKeyValuePairs(api: OrtCApi): void {
  if (keyValuePairsChecked) return;
  const [major, minor] = api.version.split('.').map(Number);
  if (major < 1 || (major === 1 && minor < 23)) throw new Error(`${api.library} is ORT ${api.version}: allocator statistics need ORT 1.23 or later`);
  const kvps = api.out('CreateKeyValuePairs');
  try {
    api.call.AddKeyValuePair(kvps, 'studio.check', 'ok');
    if (String(api.call.GetKeyValue(kvps, 'studio.check')) !== 'ok') throw new Error(`${api.library} (ORT ${api.version}): the key-value entries are not where ORT 1.23's C API has them`);
  } finally {
    api.call.ReleaseKeyValuePairs(kvps);
  }
  keyValuePairsChecked = true;
}

const sharedArenas = new Set<number>();
/** CreateArenaCfgV2's keys for CUDA's memory pool (ORT 1.23 and later): on, and the bytes it keeps when idle. */
const MEMPOOL_KEYS = ['use_cuda_mempool', 'cuda_mempool_release_threshold'];

/** Registers the process's one CUDA arena for `device` with ORT's environment, once (CudaTuning.sharedArena). */
function sharedCudaArena(api: OrtCApi, device: number, tuning: CudaTuning): void {
  if (sharedArenas.has(device)) return;
  // A wrong position would call some other function: the neighbouring GetBuildInfoString proves the table's layout.
  if (!/ORT Build Info/.test(String(api.call.GetBuildInfoString()))) throw new Error(`${api.library} (ORT ${api.version}) has no environment allocators for CUDA (ORT 1.16 or later needed); use a tuning without shared=1`);
  const register = (cfg: unknown) => {
    try {
      api.check(api.call.CreateAndRegisterAllocatorV2(api.env, 'CUDAExecutionProvider', cudaMemory(api, device), cfg, ['device_id'], [String(device)], 1), 'CreateAndRegisterAllocatorV2 (the shared CUDA arena)');
    } finally {
      api.call.ReleaseArenaCfg(cfg);
    }
  };
  if (tuning.cudaMempool) {
    try {
      register(mempoolArenaCfg(api, tuning));
      sharedArenas.add(device);
      return;
    } catch (e) {
      // The pool only lowers the peak: an ORT without it still runs, on the BFC arena (more memory, same output).
      console.warn(`CUDA memory pool refused, the split UNet's shared arena is ORT's BFC arena: ${(e as Error).message}`);
    }
  }
  register(arenaCfg(api, tuning, []));
  sharedArenas.add(device);
}

/** ORT has named the pool's keys with and without an `arena.` prefix; the first that CreateArenaCfgV2 takes. */
function mempoolArenaCfg(api: OrtCApi, tuning: CudaTuning): unknown {
  const errors: string[] = [];
  for (const prefix of ['', 'arena.']) {
    try {
      return arenaCfg(api, tuning, MEMPOOL_KEYS.map((k) => prefix + k));
    } catch (e) {
      errors.push((e as Error).message);
    }
  }
  throw new Error(`${api.library} (ORT ${api.version}) takes no CUDA memory pool for its arena (${errors.join('; ')}); use a tuning without mempool=1`);
}

function arenaCfg(api: OrtCApi, tuning: CudaTuning, mempoolKeys: string[]): unknown {
  const keys = ['arena_extend_strategy', ...(tuning.gpuMemLimit ? ['max_mem'] : []), ...mempoolKeys];
  const values = BigUint64Array.from([
    tuning.arenaExtendStrategy === 'kNextPowerOfTwo' ? 0n : 1n,
    ...(tuning.gpuMemLimit ? [BigInt(tuning.gpuMemLimit)] : []),
    // The pool keeps what it holds between runs (as the BFC arena does): giving it back at every synchronisation costs a device allocation per tensor.
    ...(mempoolKeys.length ? [1n, 2n ** 63n] : []),
  ]);
  return api.out('CreateArenaCfgV2', keys, values, keys.length);
}

const pinnedMemories = new Map<number, unknown>();

/**
 * Where a CUDA session parks outputs in host memory: ORT's `CudaPinned` memory, which the CUDA provider's own
 * pinned allocator serves (freed with the session), and which ORT copies to and from the device on its stream at the
 * link's speed. Chosen over our own cudaMallocHost + cudaMemcpy (device-copy.ts): no pinned buffers to pool and free
 * from JS, no device-wide synchronisation, and the same code path on the CPU provider. STUDIO_PARK_MEMORY=pageable
 * parks in plain CPU memory instead (the same OrtValues, copied through the driver's staging buffers), to compare.
 */
function hostMemoryFor(api: OrtCApi, device: number): unknown {
  if (process.env.STUDIO_PARK_MEMORY === 'pageable') return api.cpuMemory;
  let info = pinnedMemories.get(device);
  // OrtDeviceAllocator (0), OrtMemTypeCPUOutput (-1): the memory ORT's CUDA provider copies outputs to the host in.
  if (!info) pinnedMemories.set(device, (info = api.out('CreateMemoryInfo', 'CudaPinned', 0, device, -1)));
  return info;
}

const cudaMemories = new Map<number, unknown>();

/** One OrtMemoryInfo per CUDA device for the process (sessions share it; it is never freed). */
function cudaMemory(api: OrtCApi, device: number): unknown {
  let info = cudaMemories.get(device);
  if (!info) cudaMemories.set(device, (info = api.out('CreateMemoryInfo', 'Cuda', 1, device, 0)));
  return info;
}

/** Appends the CUDA provider with `tuning`; returns the options string ORT reports. */
function appendCuda(api: OrtCApi, options: unknown, tuning: CudaTuning): string {
  return withCudaOptions(api, tuning, (cuda, reported) => {
    api.check(api.call.SessionOptionsAppendExecutionProvider_CUDA_V2(options, cuda), 'the CUDA execution provider');
    return reported;
  });
}

/**
 * The CUDA provider options as ORT itself reads them back (GetCUDAProviderOptionsAsString), e.g.
 * "device_id=0;...;arena_extend_strategy=1;...". Needs the CUDA provider library (not a GPU).
 */
export function cudaOptionsAsOrtReads(tuning: CudaTuning): string {
  return withCudaOptions(ortCApi(), tuning, (_, reported) => reported);
}

function withCudaOptions<T>(api: OrtCApi, tuning: CudaTuning, use: (cuda: unknown, reported: string) => T): T {
  const cuda = api.out('CreateCUDAProviderOptions');
  try {
    return useCudaOptions(api, cuda, tuning, use);
  } catch (e) {
    const missing = /Failed to load library (\S+)/.exec((e as Error).message);
    if (!missing) throw e;
    throw new Error(`the CUDA execution provider is not available: ${basename(missing[1])} could not be loaded (it and libonnxruntime_providers_cuda.so belong beside ${api.library}, with CUDA + cuDNN on the library path)`);
  } finally {
    api.call.ReleaseCUDAProviderOptions(cuda);
  }
}

function useCudaOptions<T>(api: OrtCApi, cuda: unknown, tuning: CudaTuning, use: (cuda: unknown, reported: string) => T): T {
  const entries = Object.entries(cudaProviderOptions(tuning));
  if (entries.length) {
    api.check(api.call.UpdateCUDAProviderOptions(cuda, entries.map(([k]) => k), entries.map(([, v]) => v), entries.length), `CUDA provider options ${entries.map(([k, v]) => `${k}=${v}`).join(', ')}`);
  }
  return use(cuda, api.takeString(api.out('GetCUDAProviderOptionsAsString', cuda, api.defaultAllocator)));
}

/** Creates the ORT session; `cudaGraph` turns the CUDA provider's graph capture on or off over `o.cuda`. */
async function openSession(api: OrtCApi, model: { bytes: Uint8Array; externalDataFolder?: string }, o: NativeSessionOptions, cudaGraph: boolean): Promise<{ session: unknown; providerOptions?: string; reuseNote?: string }> {
  const options = api.out('CreateSessionOptions');
  try {
    api.check(api.call.SetSessionGraphOptimizationLevel(options, o.optimize === false ? 0 : 99), 'SetSessionGraphOptimizationLevel');
    api.check(api.call.SetSessionLogSeverityLevel(options, o.logSeverity ?? 3), 'SetSessionLogSeverityLevel');
    api.check((o.memPattern ?? true ? api.call.EnableMemPattern : api.call.DisableMemPattern)(options), 'memory pattern');
    const reuseNote = o.plannerReuse === false ? disablePlannerReuse(api, options) : undefined;
    if (o.profilePrefix) api.check(api.call.EnableProfiling(options, o.profilePrefix), 'EnableProfiling');
    if (o.intraOpThreads) api.check(api.call.SetIntraOpNumThreads(options, o.intraOpThreads), 'SetIntraOpNumThreads');
    const config = { ...o.config };
    if (model.externalDataFolder) config['session.model_external_initializers_file_folder_path'] = model.externalDataFolder;
    for (const [k, v] of Object.entries(config)) api.check(api.call.AddSessionConfigEntry(options, k, v), `session config ${k}=${v}`);
    if (o.provider === 'cuda' && o.cuda?.sharedArena === true) {
      sharedCudaArena(api, o.cuda.deviceId ?? 0, o.cuda);
      api.check(api.call.AddSessionConfigEntry(options, 'session.use_env_allocators', '1'), 'session config session.use_env_allocators=1');
    }
    const providerOptions = o.provider === 'cuda' ? appendCuda(api, options, { ...o.cuda, enableCudaGraph: cudaGraph }) : undefined;
    // The model bytes are only read during creation; a copy off the V8 heap keeps the pointer still.
    const bytes = Buffer.allocUnsafeSlow(model.bytes.byteLength);
    bytes.set(model.bytes);
    return { session: await api.outAsync('CreateSessionFromArray', api.env, bytes, bytes.byteLength, options), providerOptions, reuseNote };
  } finally {
    api.call.ReleaseSessionOptions(options);
  }
}

/**
 * Creates with a CUDA graph when `wanted`, and without one when ORT refuses graph capture for this model (a node
 * outside the CUDA provider, control flow, Memcpy nodes): then `note` says why, and that it runs without.
 */
export async function withCudaGraphFallback<T>(wanted: boolean, create: (cudaGraph: boolean) => Promise<T>): Promise<{ value: T; granted: boolean; note?: string }> {
  if (!wanted) return { value: await create(false), granted: false };
  try {
    return { value: await create(true), granted: true };
  } catch (e) {
    const message = (e as Error).message ?? String(e);
    if (!/graph capture|CUDA ?graph/i.test(message)) throw e;
    const reason = message.replace(/^CreateSessionFromArray: /, '').split('\n')[0].trim();
    return { value: await create(false), granted: false, note: `CUDA graph refused by ORT (${reason}); the session runs without it` };
  }
}
