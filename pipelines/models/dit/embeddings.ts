// Conditioning inputs shared by DiT and DiCo: the fixed 2-D sin-cos position table, the timestep MLP,
// the class-label table, and adaLN modulation.
import type { T } from '../../onnx/graph.ts';
import * as nn from '../../onnx/nn.ts';
import * as op from '../../onnx/ops.ts';
import type { Weights } from '../../onnx/weights.ts';

/**
 * MAE/DiT 2-D sin-cos position embedding for a grid of `rows`×`cols` tokens (row-major), as
 * [rows·cols, dim]. The first half of each vector encodes the column, the second half the row
 * (the reference's meshgrid puts the width coordinate first); each half is [sin, cos].
 * `position(i, n)`: the coordinate of index i of n (DiT: i itself; PixArt scales it).
 */
export function sincosPosEmbed2d(dim: number, rows: number, cols: number, position = (i: number, _n: number) => i): Float32Array {
  if (dim % 4 !== 0) throw new Error(`2-D sin-cos position embedding needs a width divisible by 4 (got ${dim})`);
  const quarter = dim / 4;
  const omega = Array.from({ length: quarter }, (_, k) => 1 / 10000 ** (k / quarter));
  const out = new Float32Array(rows * cols * dim);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const at = (i * cols + j) * dim;
      const [x, y] = [position(j, cols), position(i, rows)];
      for (let k = 0; k < quarter; k++) {
        out[at + k] = Math.sin(x * omega[k]);
        out[at + quarter + k] = Math.cos(x * omega[k]);
        out[at + 2 * quarter + k] = Math.sin(y * omega[k]);
        out[at + 3 * quarter + k] = Math.cos(y * omega[k]);
      }
    }
  }
  return out;
}

/** TimestepEmbedder: 256-wide [cos, sin] sinusoid (computed in float32) → Linear → SiLU → Linear. */
export function timestepEmbedder(w: Weights, t: T, frequencyDim = 256): T {
  const freq = nn.timestepEmbedding(t, frequencyDim, { flipSinToCos: true, downscaleFreqShift: 0 });
  const h = op.silu(nn.linear(w.sub('mlp.0'), op.cast(freq, w.dtype)));
  return nn.linear(w.sub('mlp.2'), h);
}

/** LabelEmbedder at inference: a row of the table per label (the last row is the null class, when present). */
export function labelEmbedder(table: Weights, labels: T, rows: number, width: number): T {
  return op.gather(table.get('weight', [rows, width]), labels, 0);
}

/** adaLN modulation: SiLU(c) → Linear(width, n·width), split into n [B, width] parts. */
export function adaLN(w: Weights, c: T, n: number): T[] {
  const width = c.dim(-1);
  return op.chunk(nn.linear(w.sub('adaLN_modulation.1'), op.silu(c), n * width), n, 1);
}

/** x·(1 + scale) + shift, with [B, width] scale/shift reshaped to broadcast over x's other axes. */
export function modulate(x: T, shift: T, scale: T, broadcastShape: readonly number[]): T {
  const s = op.reshape(scale, broadcastShape);
  const b = op.reshape(shift, broadcastShape);
  return op.add(op.mul(x, op.add(s, 1)), b);
}
