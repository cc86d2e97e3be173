// A Graph that counts the floating-point work of what is built into it (2 per multiply-add of MatMul,
// Conv and attention; element-wise ops are left out): cost claims checked on the real graph rather than
// on a formula written beside it.
import { Graph, type Attr, type OutputSpec, type T } from '../onnx/graph.ts';

const size = (shape: readonly (number | string)[]): number =>
  shape.reduce<number>((a, d) => {
    if (typeof d !== 'number') throw new Error('FLOP counting needs static shapes');
    return a * d;
  }, 1);

export class FlopCountingGraph extends Graph {
  readonly flopsByOp: Record<string, number> = {};

  get flops(): number {
    return Object.values(this.flopsByOp).reduce((a, b) => a + b, 0);
  }

  override node(op: string, inputs: readonly (T | null | undefined)[], outputs: readonly OutputSpec[], attrs: Record<string, Attr> = {}, domain = '', outputName?: string): T[] {
    const f = nodeFlops(op, inputs, outputs);
    if (f) this.flopsByOp[op] = (this.flopsByOp[op] ?? 0) + f;
    return super.node(op, inputs, outputs, attrs, domain, outputName);
  }
}

function nodeFlops(op: string, inputs: readonly (T | null | undefined)[], outputs: readonly OutputSpec[]): number {
  const [a, b, c] = inputs;
  switch (op) {
    case 'MatMul':
      return 2 * size(outputs[0].shape) * a!.dim(-1);
    case 'Conv': {
      const [, cinPerGroup, kh, kw] = b!.shape as number[];
      return 2 * size(outputs[0].shape) * cinPerGroup * kh * kw;
    }
    case 'MultiHeadAttention': {
      // QKᵀ over [B, S, C]×[B, L, C] plus the weighted sum of V [B, L, Cv].
      const [batch, s, width] = [a!.dim(0), a!.dim(1), a!.dim(2)];
      return 2 * batch * s * b!.dim(1) * (width + c!.dim(2));
    }
    default:
      return 0;
  }
}
