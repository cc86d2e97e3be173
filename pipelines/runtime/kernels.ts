// Which fused com.microsoft kernels an execution provider has, so graph builders emit them only where
// they run, and the float type a provider computes UNets in. The CUDA provider has NHWC GroupNorm with
// SiLU, BiasSplitGelu and BiasAdd; the CPU and WebGPU providers have none of the three (the CPU refuses
// them outright), so their graphs stay plain. Only bench/gpu-matrix.ts builds fused graphs so far: the
// studio's pipelines keep the plain graph until a GPU run has checked the fused one against diffusers
// (bench/NOTES.md, issue 14).
import type { Provider } from './session.ts';

export interface FusedKernels {
  /** com.microsoft GroupNorm on NHWC input, SiLU folded in (one pass instead of six). */
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
