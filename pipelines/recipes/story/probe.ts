// An opt-in extra output of a UNet graph: cross-attention probabilities averaged over the heads and
// over every cross-attention layer at one grid, [B, S, L]. The model's own output is untouched (the
// probabilities are computed beside the fused attention), so a probed run is the plain run.
import type { Graph, T } from '../../onnx/graph.ts';
import * as nn from '../../onnx/nn.ts';
import * as op from '../../onnx/ops.ts';
import type { TokenGrid } from '../../attention/isolation.ts';
import type { SelfAttentionLayer } from '../../attention/self-attention.ts';
import type { CrossAttentionCall } from '../../models/unet/transformer.ts';

export const PROBE_OUTPUT = 'cross_attention_probe';

/** The layers' downsampling nearest to latent/4, where the reference gathers its maps (coarser on ties). */
export function probeDownsample(layers: readonly SelfAttentionLayer[]): number {
  const levels = [...new Set(layers.map((l) => l.downsample))];
  const distance = (d: number) => Math.abs(Math.log2(d) - 2);
  return levels.reduce((best, d) => (distance(d) < distance(best) || (distance(d) === distance(best) && d > best) ? d : best));
}

export class CrossAttentionProbe {
  private readonly maps: T[] = [];
  grid?: TokenGrid;

  constructor(readonly downsample: number) {}

  /** The UNet build option `crossAttention`. */
  readonly hook = (c: CrossAttentionCall): T => {
    if (c.layer.downsample === this.downsample) {
      this.grid = c.grid;
      this.maps.push(probabilities(c));
    }
    return c.plain();
  };

  /** Adds the output to the built graph. */
  finish(g: Graph): void {
    if (this.maps.length === 0) throw new Error(`internal: no cross-attention layer at downsampling ${this.downsample} to probe`);
    const sum = this.maps.reduce((a, b) => op.add(a, b));
    g.output(op.div(sum, this.maps.length), PROBE_OUTPUT);
  }
}

/** softmax(Q·Kᵀ/√d) of one layer, averaged over the heads, in fp32: [B, S, L]. */
function probabilities(c: CrossAttentionCall): T {
  const channels = c.hidden.dim(-1);
  const heads = c.layer.heads;
  const d = channels / heads;
  const f = (x: T) => op.cast(x, 'float32');
  const split = (x: T) => op.transpose(op.reshape(f(x), [x.dim(0), x.dim(1), heads, d]), [0, 2, 1, 3]);
  const q = split(nn.linear(c.weights.sub('to_q'), c.hidden, channels));
  const k = split(nn.linear(c.weights.sub('to_k'), c.text, channels));
  const scores = op.mul(op.matmul(q, op.transpose(k, [0, 1, 3, 2])), d ** -0.5);
  return op.reduceMean(op.softmax(scores, -1), [1], false);
}
