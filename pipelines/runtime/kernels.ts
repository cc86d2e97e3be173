// Which fused com.microsoft kernels an execution provider has, so graph builders emit them only where
// they run. The CUDA provider has NHWC GroupNorm with SiLU, BiasSplitGelu and BiasAdd; the CPU and WebGPU
// providers have none of the three (the CPU refuses them outright), so their graphs stay plain.
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
