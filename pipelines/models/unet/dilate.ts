// LinFusion's dilated UNet branch (its HighRes / SuperRes SDXL pipelines): the dilation and the padding of
// every convolution multiplied by the stage's factor, so a 3×3 kernel sees the latent as it would at the
// base resolution. Sizes are kept: (k − 1)·d = 2·pad for every 'same' convolution, and the stride-2 ones
// still halve.
import { attr, type Attr, type Graph } from '../../onnx/graph.ts';

const ints = (a: Attr | undefined, name: string): readonly number[] => {
  if (a?.kind !== 'ints') throw new Error(`Conv node without an ints '${name}' attribute`);
  return a.value;
};

/** Multiplies `dilations` and `pads` of every Conv node of `graph` by `factor`; returns how many it changed. */
export function dilateConvolutions(graph: Graph, factor: number): number {
  if (!Number.isInteger(factor) || factor < 1) throw new RangeError(`convolution dilation must be a whole number ≥ 1, got ${factor}`);
  if (factor === 1) return 0;
  return graph.rewriteAttributes('Conv', (a) => ({
    ...a,
    dilations: attr.ints(ints(a.dilations, 'dilations').map((d) => d * factor)),
    pads: attr.ints(ints(a.pads, 'pads').map((p) => p * factor)),
  }));
}
