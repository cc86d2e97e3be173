// The CUDA provider's options that onnxruntime-node cannot pass (it sets only device_id), as the key/value
// strings of OrtCUDAProviderOptionsV2. The studio's choice for diffusion models: grow the arena by what is
// asked (not to the next power of two, which doubled our peak memory at 1024²–2048²), a cuDNN algorithm
// picked without trying every candidate with a huge workspace (the exhaustive search's workspaces stay in
// the arena for good; on an H200 it was no faster), NHWC convolutions (tensor cores without transposes
// around every conv: 34.6 vs 40.5 ms per SD 1.5 step at 1024²), no memory pattern and no planner reuse of buffers (both below).
export interface CudaTuning {
  /** kSameAsRequested: the arena grows by each request; kNextPowerOfTwo: ORT's default. */
  arenaExtendStrategy?: 'kSameAsRequested' | 'kNextPowerOfTwo';
  /** How cuDNN picks a convolution algorithm: EXHAUSTIVE (ORT's default) benchmarks every one. */
  cudnnConvAlgoSearch?: 'EXHAUSTIVE' | 'HEURISTIC' | 'DEFAULT';
  /** Let cuDNN use as much workspace as its fastest algorithm wants (ORT's default: on). */
  cudnnConvUseMaxWorkspace?: boolean;
  /** Run convolutions and norms in NHWC where the provider has NHWC kernels. */
  preferNhwc?: boolean;
  /** Upper bound of the CUDA arena in bytes. */
  gpuMemLimit?: number;
  /**
   * Which attention kernels MultiHeadAttention may use (ORT's `sdpa_kernel` bit mask: 1 flash, 2 memory-efficient,
   * 4 TensorRT fused, 8 cuDNN flash, 16 unfused math); 0: ORT's own choice.
   */
  sdpaKernel?: number;
  /** Let cuDNN fuse a convolution with its bias add. */
  fuseConvBias?: boolean;
  /**
   * Capture the whole run as a CUDA graph (needs fixed shapes and every node on CUDA). Left out: as the session
   * asks (capturesCudaGraph); `graph=0|1` in a tuning string overrides that for every session that may have one.
   */
  enableCudaGraph?: boolean;
  deviceId?: number;
  /**
   * ORT's memory pattern (a session option, not the provider's; on by default): one block planned for all
   * of a run's intermediate tensors instead of arena allocations tensor by tensor.
   */
  memPattern?: boolean;
  /**
   * ORT's allocation planner reusing dead buffers for later tensors of the same size (a session option; on by
   * default in ORT). Off, the arena alone recycles memory: 3.6× less held by a whole UNet on the CPU, same outputs
   * and time (planner-reuse.ts); not yet measured on a GPU.
   */
  plannerReuse?: boolean;
  /**
   * One arena per device for every session of the process (ORT's environment allocator, a session option, not the
   * provider's): a UNet split into sessions (models/unet/runner.ts) reuses one piece's memory for the next instead of
   * giving it back to the device after every piece, which cost 67–200 ms per 2 M-token feed-forward run
   * (bench/NOTES.md, ff-pieces). Runs of such sessions never shrink the arena (`releaseArena` is moot: the next session draws from it).
   */
  sharedArena?: boolean;
  /**
   * The shared arena as CUDA's own stream-ordered memory pool (ORT's CudaMempoolArena, cudaMallocFromPoolAsync)
   * instead of ORT's BFC arena, whose regions (one per request with kSameAsRequested) never merge. Implies sharedArena.
   */
  cudaMempool?: boolean;
}

export const STUDIO_CUDA_TUNING: CudaTuning = {
  arenaExtendStrategy: 'kSameAsRequested',
  cudnnConvAlgoSearch: 'HEURISTIC',
  cudnnConvUseMaxWorkspace: false,
  preferNhwc: true,
  // Measured on an H200 (bench/NOTES.md, session 5): SD 1.5 at 2048² 6.58 GiB without it, 10.09 with, same speed.
  memPattern: false,
  plannerReuse: false,
  // The split UNet's shared arena as CUDA's pool (whole graphs keep their own BFC arenas, which CUDA graphs replay in).
  // Measured on an H100 (bench/NOTES.md, session 10): SD 1.5 + LinFusion 16384×8192 end to end, split, rows one at a
  // time, 21.1 GiB peak (the UNet part 17.5) and 68.4 s, against 39.6 GiB (32.7) and 72.4 s with the BFC arena, whose
  // statistics showed 13.07 GiB most in use but 30.63 GiB held: regions of 2.5 and 3.75 GiB for the up blocks' wider
  // tensors beside 1.25 GiB ones that never merge.
  cudaMempool: true,
};

const bool = (b: boolean) => (b ? '1' : '0');

/**
 * Whether a CUDA session captures a graph. `fixedShapes`: the session's caller runs one set of input shapes through
 * run() only (the whole UNet of a denoising loop: a graph saves its launch overhead, 2–5 ms per SD 1.5 step,
 * bench/NOTES.md); false for sessions that hand tensors on (runKeeping: a split UNet's pieces) or change shapes,
 * which never capture; undefined: no promise either way. The tuning's `graph=0|1` decides where it says.
 */
export function capturesCudaGraph(tuning: CudaTuning, fixedShapes: boolean | undefined): boolean {
  if (fixedShapes === false) return false;
  return tuning.enableCudaGraph ?? fixedShapes === true;
}

/** The provider-option strings for `tuning`; options left undefined keep ORT's defaults. */
export function cudaProviderOptions(tuning: CudaTuning): Record<string, string> {
  const o: Record<string, string> = {};
  if (tuning.deviceId !== undefined) o.device_id = String(tuning.deviceId);
  if (tuning.arenaExtendStrategy) o.arena_extend_strategy = tuning.arenaExtendStrategy;
  if (tuning.cudnnConvAlgoSearch) o.cudnn_conv_algo_search = tuning.cudnnConvAlgoSearch;
  if (tuning.cudnnConvUseMaxWorkspace !== undefined) o.cudnn_conv_use_max_workspace = bool(tuning.cudnnConvUseMaxWorkspace);
  if (tuning.preferNhwc !== undefined) o.prefer_nhwc = bool(tuning.preferNhwc);
  if (tuning.gpuMemLimit !== undefined) {
    if (!(Number.isSafeInteger(tuning.gpuMemLimit) && tuning.gpuMemLimit > 0)) throw new Error(`gpuMemLimit ${tuning.gpuMemLimit} must be a positive whole number of bytes`);
    o.gpu_mem_limit = String(tuning.gpuMemLimit);
  }
  if (tuning.enableCudaGraph !== undefined) o.enable_cuda_graph = bool(tuning.enableCudaGraph);
  if (tuning.sdpaKernel !== undefined) {
    if (!(Number.isInteger(tuning.sdpaKernel) && tuning.sdpaKernel >= 0 && tuning.sdpaKernel < 64)) throw new Error(`sdpaKernel ${tuning.sdpaKernel} must be a bit mask between 0 and 63`);
    o.sdpa_kernel = String(tuning.sdpaKernel);
  }
  if (tuning.fuseConvBias !== undefined) o.fuse_conv_bias = bool(tuning.fuseConvBias);
  return o;
}

/**
 * Reads a tuning such as `arena=kSameAsRequested,conv=HEURISTIC,maxws=0,nhwc=1,limit=8e9,graph=0` (bench
 * flags and STUDIO_CUDA_TUNING); `default` is ORT's own defaults, `studio` the studio's choice above, either
 * followed by changes (`studio,nhwc=0`).
 */
export function parseCudaTuning(text: string): CudaTuning {
  const [first, ...rest] = text.split(',');
  // `studio,nhwc=0`: the studio's choice with one option changed.
  const t: CudaTuning = first === 'studio' ? { ...STUDIO_CUDA_TUNING } : {};
  if (first === 'studio' || first === 'default') text = rest.join(',');
  const flag = (k: string, v: string) => {
    if (v !== '0' && v !== '1') throw new Error(`CUDA tuning "${k}=${v}": use 0 or 1`);
    return v === '1';
  };
  for (const part of text.split(',').filter(Boolean)) {
    const [k, v = ''] = part.split('=');
    if (k === 'arena' && (v === 'kSameAsRequested' || v === 'kNextPowerOfTwo')) t.arenaExtendStrategy = v;
    else if (k === 'conv' && (v === 'EXHAUSTIVE' || v === 'HEURISTIC' || v === 'DEFAULT')) t.cudnnConvAlgoSearch = v;
    else if (k === 'maxws') t.cudnnConvUseMaxWorkspace = flag(k, v);
    else if (k === 'nhwc') t.preferNhwc = flag(k, v);
    else if (k === 'graph') t.enableCudaGraph = flag(k, v);
    else if (k === 'mempattern') t.memPattern = flag(k, v);
    else if (k === 'reuse') t.plannerReuse = flag(k, v);
    else if (k === 'limit') t.gpuMemLimit = Number(v);
    else if (k === 'sdpa') t.sdpaKernel = Number(v);
    else if (k === 'fuse') t.fuseConvBias = flag(k, v);
    else if (k === 'shared') t.sharedArena = flag(k, v);
    else if (k === 'mempool') {
      t.cudaMempool = flag(k, v);
      if (t.cudaMempool) t.sharedArena = true;
    }
    else throw new Error(`CUDA tuning "${part}" is not understood; use default, studio, or a list of arena=kSameAsRequested|kNextPowerOfTwo, conv=EXHAUSTIVE|HEURISTIC|DEFAULT, maxws=0|1, nhwc=0|1, graph=0|1, mempattern=0|1, reuse=0|1, limit=BYTES, sdpa=MASK, fuse=0|1, shared=0|1, mempool=0|1`);
  }
  return t;
}
