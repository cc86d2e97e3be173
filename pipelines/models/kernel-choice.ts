// Sessions of graphs built with an execution provider's fused kernels (runtime/kernels.ts), and of the plain graph
// where none of the listed providers can create the fused one: the CPU has none of the kernels, so when CUDA cannot
// start a session (out of memory, a missing library) the CPU fallback gets the plain graph, from then on.
import type { FusedKernels } from '../runtime/kernels.ts';
import { ortErrorReason } from '../runtime/session.ts';

export class KernelChoice {
  /** Why the fused graph could not be created, once it could not. */
  refusedBecause?: string;

  constructor(private readonly kernels: FusedKernels | undefined) {}

  /** `create(kernels)` with the fused kernels until a creation with them fails, then `create(undefined)`. */
  async create<S>(create: (kernels: FusedKernels | undefined) => Promise<S>): Promise<S> {
    const kernels = this.refusedBecause === undefined ? this.kernels : undefined;
    if (!kernels) return create(undefined);
    try {
      return await create(kernels);
    } catch (e) {
      this.refusedBecause = ortErrorReason(e);
      return create(undefined);
    }
  }
}

/** A session-cache part name that tells fused and plain graphs apart. */
export const kernelPart = (part: string, kernels: FusedKernels | undefined): string => (kernels ? `${part}/fused` : part);
