// Which fused com.microsoft kernels an execution provider has, so graph builders emit them only where
// they run, and the float type a provider computes UNets in. The CUDA provider has NHWC GroupNorm with
// SiLU, BiasSplitGelu and BiasAdd; the CPU and WebGPU providers have none of the three (the CPU refuses
// them outright), so their graphs stay plain.
import type { Graph } from '../onnx/graph.ts';
import { ortErrorReason, Session, type Provider, type SessionOptions } from './session.ts';

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

/**
 * A session for a graph built by `build`: with the first provider's fused kernels when it has them, and
 * the plain graph on the whole provider list when that provider refuses the fused one (or has none).
 */
export async function sessionWithKernels(build: (kernels?: FusedKernels) => Graph, o: SessionOptions): Promise<{ session: Session; note?: string }> {
  const first = o.providers?.[0];
  const kernels = first ? fusedKernels(first) : undefined;
  if (kernels) {
    try {
      return { session: await Session.create(build(kernels), { ...o, providers: [first!], forbidCpuFallback: true }) };
    } catch (e) {
      const session = await Session.create(build(), o);
      return { session, note: `${first}'s fused kernels were refused (${ortErrorReason(e)}); the plain graph runs` };
    }
  }
  return { session: await Session.create(build(), o) };
}
