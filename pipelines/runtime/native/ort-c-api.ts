// The few entries of onnxruntime's C API (OrtApi) that the native session needs, called through koffi.
// Why not onnxruntime-node: its binding hands the CUDA provider only a device id (bench/NOTES.md), so the
// provider options that decide speed and memory (cuDNN algorithm search, arena growth, memory limit, NHWC)
// are out of reach from it. This module loads the very libonnxruntime.so that onnxruntime-node ships (or
// the one ORT_NATIVE_LIB names) and reads the function table that OrtGetApiBase()->GetApi(version) returns.
// Entries are addressed by their position in the OrtApi struct, which onnxruntime only ever appends to;
// the positions below were counted from the public C API header (positions 0–208 exist since ORT 1.11, 254–259
// since 1.16, 295–319 since 1.23).
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import koffi from 'koffi';

/** OrtApi version asked for: 1.11's, the first with CUDA provider options V2; later runtimes serve it too. */
const API_VERSION = 11;

type Fn = (...args: unknown[]) => unknown;
type AsyncFn = (...args: unknown[]) => Promise<unknown>;

// [position in OrtApi, koffi prototype]; every OrtStatus* result is a `void *` that is null on success.
const ENTRIES = {
  GetErrorMessage: [2, 'const char *GetErrorMessage(void *status)'],
  CreateEnv: [3, 'void *CreateEnv(int level, const char *logid, _Out_ void **out)'],
  CreateSessionFromArray: [8, 'void *CreateSessionFromArray(void *env, const void *data, size_t len, void *options, _Out_ void **out)'],
  Run: [9, 'void *Run(void *session, void *runOptions, const char **inputNames, void **inputs, size_t inputCount, const char **outputNames, size_t outputCount, _Inout_ void **outputs)'],
  CreateSessionOptions: [10, 'void *CreateSessionOptions(_Out_ void **out)'],
  EnableProfiling: [14, 'void *EnableProfiling(void *options, const char *prefix)'],
  EnableMemPattern: [16, 'void *EnableMemPattern(void *options)'],
  DisableMemPattern: [17, 'void *DisableMemPattern(void *options)'],
  EnableCpuMemArena: [18, 'void *EnableCpuMemArena(void *options)'],
  DisableCpuMemArena: [19, 'void *DisableCpuMemArena(void *options)'],
  SetSessionLogSeverityLevel: [22, 'void *SetSessionLogSeverityLevel(void *options, int level)'],
  SetSessionGraphOptimizationLevel: [23, 'void *SetSessionGraphOptimizationLevel(void *options, int level)'],
  SetIntraOpNumThreads: [24, 'void *SetIntraOpNumThreads(void *options, int threads)'],
  SessionEndProfiling: [110, 'void *SessionEndProfiling(void *session, void *allocator, _Out_ void **out)'],
  SessionGetInputCount: [30, 'void *SessionGetInputCount(void *session, _Out_ size_t *out)'],
  SessionGetOutputCount: [31, 'void *SessionGetOutputCount(void *session, _Out_ size_t *out)'],
  SessionGetInputName: [36, 'void *SessionGetInputName(void *session, size_t index, void *allocator, _Out_ void **out)'],
  SessionGetOutputName: [37, 'void *SessionGetOutputName(void *session, size_t index, void *allocator, _Out_ void **out)'],
  CreateRunOptions: [39, 'void *CreateRunOptions(_Out_ void **out)'],
  CreateTensorAsOrtValue: [48, 'void *CreateTensorAsOrtValue(void *allocator, const int64_t *shape, size_t rank, int type, _Out_ void **out)'],
  CreateTensorWithDataAsOrtValue: [49, 'void *CreateTensorWithDataAsOrtValue(void *memInfo, void *data, size_t len, const int64_t *shape, size_t rank, int type, _Out_ void **out)'],
  GetTensorMutableData: [51, 'void *GetTensorMutableData(void *value, _Out_ void **out)'],
  GetTensorElementType: [60, 'void *GetTensorElementType(void *info, _Out_ int *out)'],
  GetDimensionsCount: [61, 'void *GetDimensionsCount(void *info, _Out_ size_t *out)'],
  GetDimensions: [62, 'void *GetDimensions(void *info, _Out_ int64_t *dims, size_t count)'],
  GetTensorTypeAndShape: [65, 'void *GetTensorTypeAndShape(void *value, _Out_ void **out)'],
  CreateMemoryInfo: [68, 'void *CreateMemoryInfo(const char *name, int allocatorType, int deviceId, int memType, _Out_ void **out)'],
  CreateCpuMemoryInfo: [69, 'void *CreateCpuMemoryInfo(int allocatorType, int memType, _Out_ void **out)'],
  AllocatorFree: [76, 'void *AllocatorFree(void *allocator, void *p)'],
  GetAllocatorWithDefaultOptions: [78, 'void *GetAllocatorWithDefaultOptions(_Out_ void **out)'],
  ReleaseStatus: [93, 'void ReleaseStatus(void *status)'],
  ReleaseMemoryInfo: [94, 'void ReleaseMemoryInfo(void *info)'],
  ReleaseSession: [95, 'void ReleaseSession(void *session)'],
  ReleaseValue: [96, 'void ReleaseValue(void *value)'],
  ReleaseRunOptions: [97, 'void ReleaseRunOptions(void *options)'],
  ReleaseTensorTypeAndShapeInfo: [99, 'void ReleaseTensorTypeAndShapeInfo(void *info)'],
  ReleaseSessionOptions: [100, 'void ReleaseSessionOptions(void *options)'],
  GetAvailableProviders: [125, 'void *GetAvailableProviders(_Out_ void **out, _Out_ int *count)'],
  ReleaseAvailableProviders: [126, 'void *ReleaseAvailableProviders(void *list, int count)'],
  AddSessionConfigEntry: [130, 'void *AddSessionConfigEntry(void *options, const char *key, const char *value)'],
  CreateAllocator: [131, 'void *CreateAllocator(void *session, void *memInfo, _Out_ void **out)'],
  ReleaseAllocator: [132, 'void ReleaseAllocator(void *allocator)'],
  RunWithBinding: [133, 'void *RunWithBinding(void *session, void *runOptions, void *binding)'],
  CreateIoBinding: [134, 'void *CreateIoBinding(void *session, _Out_ void **out)'],
  ReleaseIoBinding: [135, 'void ReleaseIoBinding(void *binding)'],
  BindInput: [136, 'void *BindInput(void *binding, const char *name, void *value)'],
  BindOutput: [137, 'void *BindOutput(void *binding, const char *name, void *value)'],
  BindOutputToDevice: [138, 'void *BindOutputToDevice(void *binding, const char *name, void *memInfo)'],
  GetBoundOutputValues: [140, 'void *GetBoundOutputValues(void *binding, void *allocator, _Out_ void **values, _Out_ size_t *count)'],
  ReleaseArenaCfg: [157, 'void ReleaseArenaCfg(void *cfg)'],
  CreateArenaCfgV2: [164, 'void *CreateArenaCfgV2(const char **keys, const size_t *values, size_t count, _Out_ void **out)'],
  AddRunConfigEntry: [165, 'void *AddRunConfigEntry(void *options, const char *key, const char *value)'],
  SessionOptionsAppendExecutionProvider_CUDA_V2: [204, 'void *SessionOptionsAppendExecutionProvider_CUDA_V2(void *options, void *cudaOptions)'],
  CreateCUDAProviderOptions: [205, 'void *CreateCUDAProviderOptions(_Out_ void **out)'],
  UpdateCUDAProviderOptions: [206, 'void *UpdateCUDAProviderOptions(void *cudaOptions, const char **keys, const char **values, size_t count)'],
  GetCUDAProviderOptionsAsString: [207, 'void *GetCUDAProviderOptionsAsString(void *cudaOptions, void *allocator, _Out_ void **out)'],
  ReleaseCUDAProviderOptions: [208, 'void ReleaseCUDAProviderOptions(void *cudaOptions)'],
  // ORT 1.16 and later (the kit's 1.29 and the project's 1.30); sharedCudaArena checks position 254 first.
  GetBuildInfoString: [254, 'const char *GetBuildInfoString(void)'],
  CreateAndRegisterAllocatorV2: [259, 'void *CreateAndRegisterAllocatorV2(void *env, const char *providerType, void *memInfo, void *arenaCfg, const char **keys, const char **values, size_t count)'],
  // ORT 1.23 and later (key-value pairs from 1.22): arena statistics; arenaStats() checks positions 295–297 first.
  CreateKeyValuePairs: [295, 'void CreateKeyValuePairs(_Out_ void **out)'],
  AddKeyValuePair: [296, 'void AddKeyValuePair(void *kvps, const char *key, const char *value)'],
  GetKeyValue: [297, 'const char *GetKeyValue(void *kvps, const char *key)'],
  GetKeyValuePairs: [298, 'void GetKeyValuePairs(void *kvps, _Out_ void **keys, _Out_ void **values, _Out_ size_t *count)'],
  ReleaseKeyValuePairs: [300, 'void ReleaseKeyValuePairs(void *kvps)'],
  AllocatorGetStats: [319, 'void *AllocatorGetStats(void *allocator, _Out_ void **out)'],
} as const;

export type EntryName = keyof typeof ENTRIES;

export interface OrtCApi {
  /** The library file loaded. */
  library: string;
  /** Its version string (OrtApiBase::GetVersionString). */
  version: string;
  call: Record<EntryName, Fn>;
  /** The same entries run on a worker thread (session creation and runs take long on a GPU). */
  callAsync: Record<EntryName, AsyncFn>;
  /** Throws the status's message (prefixed by `what`) when `status` is not null, and frees it. */
  check(status: unknown, what: string): void;
  /** Calls an entry whose last parameter is an output pointer and returns what it wrote there. */
  out(name: EntryName, ...args: unknown[]): unknown;
  outAsync(name: EntryName, ...args: unknown[]): Promise<unknown>;
  /** A C string that ORT allocated with its default allocator, copied out and freed. */
  takeString(ptr: unknown): string;
  env: unknown;
  cpuMemory: unknown;
  defaultAllocator: unknown;
}

let loaded: OrtCApi | undefined;

/** The libonnxruntime that onnxruntime-node resolved from here loads (the one its binding already uses). */
export function onnxruntimeLibraryPath(): string {
  if (process.env.ORT_NATIVE_LIB) return process.env.ORT_NATIVE_LIB;
  const require = createRequire(import.meta.url);
  const root = dirname(require.resolve('onnxruntime-node/package.json'));
  const bin = join(root, 'bin', 'napi-v6', process.platform, process.arch);
  const name = process.platform === 'darwin' ? 'libonnxruntime.dylib' : process.platform === 'win32' ? 'onnxruntime.dll' : 'libonnxruntime.so.1';
  const path = join(bin, name);
  if (!existsSync(path)) throw new Error(`the native ORT session needs ${path} (from onnxruntime-node); set ORT_NATIVE_LIB to a libonnxruntime file instead`);
  return path;
}

export function ortCApi(): OrtCApi {
  if (loaded) return loaded;
  // ORT's graph optimizers recurse deeply; koffi runs native code on its own stacks, sized here.
  koffi.config({ ...koffi.config(), sync_stack_size: 16 << 20, async_stack_size: 16 << 20 });
  const library = onnxruntimeLibraryPath();
  const lib = koffi.load(library);
  const base = lib.func('void *OrtGetApiBase(void)')();
  const getApi = koffi.decode(koffi.decode(base, 0, 'void *'), koffi.proto('void *GetApi(uint32_t version)')) as Fn;
  const getVersion = koffi.decode(koffi.decode(base, 8, 'void *'), koffi.proto('const char *GetVersionString(void)')) as Fn;
  const version = String(getVersion());
  const table = getApi(API_VERSION);
  if (!table) throw new Error(`${library} (ORT ${version}) does not serve OrtApi version ${API_VERSION}`);
  const call = {} as Record<EntryName, Fn>;
  const callAsync = {} as Record<EntryName, AsyncFn>;
  for (const [name, [index, proto]] of Object.entries(ENTRIES) as [EntryName, readonly [number, string]][]) {
    const fn = koffi.decode(koffi.decode(table, index * 8, 'void *'), koffi.proto(proto)) as Fn & { async: (...a: unknown[]) => void };
    call[name] = fn;
    callAsync[name] = (...args) => new Promise((resolve, reject) => fn.async(...args, (err: unknown, res: unknown) => (err ? reject(err) : resolve(res))));
  }
  const check = (status: unknown, what: string) => {
    if (!status) return;
    const message = String(call.GetErrorMessage(status));
    call.ReleaseStatus(status);
    throw new Error(`${what}: ${message}`);
  };
  const out = (fn: EntryName, ...args: unknown[]) => {
    const o: unknown[] = [null];
    check(call[fn](...args, o), fn);
    return o[0];
  };
  const outAsync = async (fn: EntryName, ...args: unknown[]) => {
    const o: unknown[] = [null];
    check(await callAsync[fn](...args, o), fn);
    return o[0];
  };
  const defaultAllocator = out('GetAllocatorWithDefaultOptions');
  const takeString = (ptr: unknown) => {
    const s = String(koffi.decode(ptr, 'char', -1));
    check(call.AllocatorFree(defaultAllocator, ptr), 'AllocatorFree');
    return s;
  };
  // 4 = ORT_LOGGING_LEVEL_FATAL: failures reach the studio as statuses with their message (a missing CUDA library is
  // said once, in the studio's words), not as raw log lines. CreateEnv hands back the process's one environment when
  // it exists.
  const env = out('CreateEnv', 4, 'studio-native');
  // OrtDeviceAllocator (0), OrtMemTypeDefault (0)
  const cpuMemory = out('CreateCpuMemoryInfo', 0, 0);
  loaded = { library, version, call, callAsync, check, out, outAsync, takeString, env, cpuMemory, defaultAllocator };
  return loaded;
}

/** The execution providers compiled into the loaded library (GetAvailableProviders). */
export function nativeProviders(): string[] {
  const api = ortCApi();
  const list: unknown[] = [null];
  const count = [0];
  api.check(api.call.GetAvailableProviders(list, count), 'GetAvailableProviders');
  const names = (koffi.decode(list[0], 'const char *', count[0]) as string[]).slice();
  api.check(api.call.ReleaseAvailableProviders(list[0], count[0]), 'ReleaseAvailableProviders');
  return names;
}
