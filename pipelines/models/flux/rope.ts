// FLUX's 3-axis rotary position embedding (diffusers' FluxPosEmbed + apply_rotary_emb, interleaved pairs).
// Every token has ids (axis 0, row, column): text tokens all zeros, image token (r, c) of the packed grid
// (0, r, c), as FluxPipeline lays them out. The angles depend only on the grid, so the cos/sin tables are
// computed here in float64 (as diffusers does) and stored as float32 constants of the graph.
import type { T } from '../../onnx/graph.ts';
import * as op from '../../onnx/ops.ts';

const THETA = 10000;

/** [tokens, headDim/2] cos and sin of the joint sequence [text (textLength), image (rows·cols, row-major)]. */
export function ropeTables(axesDims: readonly number[], textLength: number, rows: number, cols: number): { cos: Float32Array; sin: Float32Array } {
  const half = axesDims.reduce((a, b) => a + b, 0) / 2;
  const tokens = textLength + rows * cols;
  const cos = new Float32Array(tokens * half).fill(1);
  const sin = new Float32Array(tokens * half);
  for (let i = 0; i < rows * cols; i++) {
    const ids = [0, Math.floor(i / cols), i % cols];
    let at = (textLength + i) * half;
    axesDims.forEach((dim, axis) => {
      for (let j = 0; j < dim / 2; j++, at++) {
        const angle = ids[axis] * (1 / THETA ** ((2 * j) / dim));
        cos[at] = Math.cos(angle);
        sin[at] = Math.sin(angle);
      }
    });
  }
  return { cos, sin };
}

/**
 * Rotates channel pairs (2j, 2j+1) of every head of x [B, S, heads·d] by the token's angles:
 * (a, b) → (a·cos − b·sin, b·cos + a·sin), computed in float32 as diffusers does inside fp16 models.
 */
export function applyRope(x: T, tables: { cos: T; sin: T }, heads: number): T {
  const [b, s, width] = [x.dim(0), x.dim(1), x.dim(2)];
  const pairs = width / heads / 2;
  const [a, c] = op.split(op.reshape(op.cast(x, 'float32'), [b, s, heads, pairs, 2]), -1, [1, 1]);
  const rotated = op.concat([op.sub(op.mul(a, tables.cos), op.mul(c, tables.sin)), op.add(op.mul(c, tables.cos), op.mul(a, tables.sin))], -1);
  return op.cast(op.reshape(rotated, [b, s, width]), x.dtype);
}

/** The tables as graph constants shaped [1, S, 1, d/2, 1] to broadcast over [B, S, heads, d/2, 1]. */
export function ropeConstants(like: T, tables: { cos: Float32Array; sin: Float32Array }, tokens: number): { cos: T; sin: T } {
  const shape = [1, tokens, 1, tables.cos.length / tokens, 1];
  return { cos: like.graph.constant('float32', shape, tables.cos, 'rope_cos'), sin: like.graph.constant('float32', shape, tables.sin, 'rope_sin') };
}
