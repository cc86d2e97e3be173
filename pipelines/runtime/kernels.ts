// Which fused com.microsoft kernels an execution provider has, so graph builders emit them only where
// they run, and the float type a provider computes UNets in. The CUDA provider has NHWC GroupNorm with
// SiLU, BiasSplitGelu and BiasAdd; the CPU and WebGPU providers have none of the three (the CPU refuses
// them outright), so their graphs stay plain. Only bench/gpu-matrix.ts builds fused graphs so far; its GPU
// run (bench/NOTES.md, session 4) found them within 1.4–1.8e-3 of diffusers and faster (SD 1.5 1024² 39.6 vs
// 46.0 ms), and the studio's pipelines are the next to take them.
import type { Provider } from './session.ts';

export interface FusedKernels {
  /** com.microsoft GroupNorm on NHWC input, SiLU folded in where one follows (one pass instead of six). */
  groupNormSilu: boolean;
  /** com.microsoft BiasSplitGelu: GEGLU's bias, split and gate in one kernel. */
  biasSplitGelu: boolean;
  /** com.microsoft BiasAdd: a projection's bias plus the residual in one kernel. */
  biasAdd: boolean;
}

const CUDA: FusedKernels = { groupNormSilu: true, biasSplitGelu: true, biasAdd: true };

/** The fused kernels to build for `provider`, or undefined when the plain graph is the one to build. */
export function fusedKernels(provider: Provider): FusedKernels | undefined {
  return provider === 'cuda' ? CUDA : undefined;
}

/**
 * The float type to build a diffusion model's graph in: fp16 on CUDA (tensor cores; the VAE checks its
 * fp16 output and redoes it in fp32 when broken). Other providers keep fp32: WebGPU's fp16 UNet is 2e-2
 * off PyTorch's (bench/NOTES.md) and the CPU has no fast fp16.
 */
export const modelDtype = (provider: Provider | undefined): 'float16' | 'float32' => (provider === 'cuda' ? 'float16' : 'float32');
