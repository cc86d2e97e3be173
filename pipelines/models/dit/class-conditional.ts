// Graph inputs/outputs shared by the class-conditional latent models (DiT, DiCo): float32 `x` [B, C, H, W],
// float32 timesteps `t` [B], int64 labels `y` [B] → float32 `out`. With guidance, the graph is the
// reference `forward_with_cfg`: it runs [x, x] with labels [y, null] and a `cfg_scale` [1] input.
import { Graph, GraphError, type DType, type T } from '../../onnx/graph.ts';
import * as op from '../../onnx/ops.ts';

export type ClassConditionalForward = (x: T, t: T, y: T) => T;

export interface ClassConditionalGraphOptions {
  /** Images per run (with guidance: conditional images; the model itself then runs on 2·batch). */
  batch: number;
  /** Latent size. */
  height: number;
  width: number;
  /** Compute dtype inside the graph; inputs and outputs stay float32. */
  dtype?: 'float32' | 'float16';
  /**
   * Classifier-free guidance as in the reference: only the first `channels` output channels are
   * guided (3 in DiT/DiCo's code, "for exact reproducibility"); the rest stay per half.
   */
  guidance?: { nullClass: number; channels?: number };
}

export function buildClassConditionalGraph(
  name: string,
  inChannels: number,
  o: ClassConditionalGraphOptions,
  forward: ClassConditionalForward,
): Graph {
  for (const [k, v] of Object.entries({ batch: o.batch, height: o.height, width: o.width })) {
    if (!Number.isInteger(v) || v < 1) throw new GraphError(`${name}: ${k} must be a positive integer (got ${v})`);
  }
  const dtype: DType = o.dtype ?? 'float32';
  const g = new Graph(name);
  const x = g.input('x', 'float32', [o.batch, inChannels, o.height, o.width]);
  const t = g.input('t', 'float32', [o.batch]);
  const y = g.input('y', 'int64', [o.batch]);
  let out: T;
  if (o.guidance) {
    const scale = g.input('cfg_scale', 'float32', [1]);
    out = guided(forward, op.cast(x, dtype), t, y, op.cast(scale, dtype), o.guidance.nullClass, o.guidance.channels ?? 3);
  } else {
    out = forward(op.cast(x, dtype), t, y);
  }
  g.output(op.cast(out, 'float32'), 'out');
  return g;
}

/** forward_with_cfg: ε = ε_u + s·(ε_c − ε_u) on the first `channels` channels, duplicated over both halves. */
function guided(forward: ClassConditionalForward, x: T, t: T, y: T, scale: T, nullClass: number, channels: number): T {
  const b = x.dim(0);
  const nullLabels = x.graph.constant('int64', [b], BigInt64Array.from({ length: b }, () => BigInt(nullClass)), 'null_class');
  const out = forward(op.concat([x, x], 0), op.concat([t, t], 0), op.concat([y, nullLabels], 0));
  const c = out.dim(1);
  if (channels < 1 || channels > c) throw new GraphError(`guidance: ${channels} guided channels asked for, the model outputs ${c}`);
  const eps = op.slice(out, [1], [0], [channels]);
  const [cond, uncond] = op.chunk(eps, 2, 0);
  const half = op.add(uncond, op.mul(scale, op.sub(cond, uncond)));
  const guidedEps = op.concat([half, half], 0);
  return channels === c ? guidedEps : op.concat([guidedEps, op.slice(out, [1], [channels], [c])], 1);
}
