// Cross-attention maps → masks and boxes, as IR-Diffusion / ConsiStory turn attention into masks:
// resize bilinearly, min–max normalise, binarise with an Otsu threshold from a 256-bin histogram.
import type { TokenGrid } from '../../attention/isolation.ts';
import { maskBounds } from './reposition-masks.ts';
import { boxArea, MAX_OVERLAP, overlapArea, type Box } from './boxes.ts';

/** (x − min) / (max − min + 1e-8), the reference's `normalize`. */
export function normalizeMap(map: ArrayLike<number>): Float32Array {
  let [lo, hi] = [Infinity, -Infinity];
  for (let i = 0; i < map.length; i++) [lo, hi] = [Math.min(lo, map[i]), Math.max(hi, map[i])];
  return Float32Array.from(map, (v) => (v - lo) / (hi - lo + 1e-8));
}

/**
 * Otsu's threshold over a 256-bin histogram of `values` (taken over their own min–max, as torch.histc),
 * returned as bin/255 and kept inside (1e-6, 1 − 1e-6) as the reference does. The reference's variance
 * term is cumsum·(cumsum − 256)·(μ_k − μ)², which for fewer than 256 tokens always picks the top bin;
 * this uses Otsu's between-class variance, w₀·w₁·(μ₀ − μ₁)².
 */
export function otsuThreshold(values: ArrayLike<number>, bins = 256): number {
  let [lo, hi] = [Infinity, -Infinity];
  for (let i = 0; i < values.length; i++) [lo, hi] = [Math.min(lo, values[i]), Math.max(hi, values[i])];
  const hist = new Float64Array(bins);
  for (let i = 0; i < values.length; i++) {
    const b = hi > lo ? Math.floor(((values[i] - lo) / (hi - lo)) * bins) : 0;
    hist[Math.min(b, bins - 1)]++;
  }
  const total = values.length;
  let sumAll = 0;
  for (let b = 0; b < bins; b++) sumAll += b * hist[b];
  let [count, sum, best, bestVar] = [0, 0, 0, -1];
  for (let b = 0; b < bins; b++) {
    count += hist[b];
    sum += b * hist[b];
    if (count === 0 || count === total) continue;
    const [w0, w1] = [count / total, (total - count) / total];
    const between = w0 * w1 * (sum / count - (sumAll - sum) / (total - count)) ** 2;
    if (between > bestVar) [best, bestVar] = [b, between];
  }
  return Math.min(Math.max(best / (bins - 1), 1e-6), 1 - 1e-6);
}

/** torch.nn.functional.interpolate(mode='bilinear', align_corners=False) of one [h, w] map. */
export function resizeBilinear(map: ArrayLike<number>, from: TokenGrid, to: TokenGrid): Float32Array {
  const axis = (inSize: number, outSize: number) =>
    Array.from({ length: outSize }, (_, o) => {
      const src = Math.max((o + 0.5) * (inSize / outSize) - 0.5, 0);
      const i0 = Math.floor(src);
      const i1 = i0 < inSize - 1 ? i0 + 1 : i0;
      return { i0, i1, f: src - i0 };
    });
  const ys = axis(from.height, to.height);
  const xs = axis(from.width, to.width);
  const out = new Float32Array(to.height * to.width);
  for (let r = 0; r < to.height; r++) {
    const { i0: y0, i1: y1, f: fy } = ys[r];
    for (let c = 0; c < to.width; c++) {
      const { i0: x0, i1: x1, f: fx } = xs[c];
      const top = (1 - fx) * map[y0 * from.width + x0] + fx * map[y0 * from.width + x1];
      const bottom = (1 - fx) * map[y1 * from.width + x0] + fx * map[y1 * from.width + x1];
      out[r * to.width + c] = (1 - fy) * top + fy * bottom;
    }
  }
  return out;
}

/** A soft map at `from` as a binary mask at `to`: bilinear resize, normalise, Otsu. */
export function binarizeMap(map: ArrayLike<number>, from: TokenGrid, to: TokenGrid): Uint8Array {
  const resized = normalizeMap(resizeBilinear(map, from, to));
  const threshold = otsuThreshold(resized);
  return Uint8Array.from(resized, (v) => (v > threshold ? 1 : 0));
}

/** One token-averaged map [S] out of a probe [S, L] (the reference averages a subject's word tokens). */
export function tokenMap(probe: Float32Array, tokensPerRow: number, positions: readonly number[]): Float32Array {
  const cells = probe.length / tokensPerRow;
  const out = new Float32Array(cells);
  for (let s = 0; s < cells; s++) {
    let v = 0;
    for (const p of positions) v += probe[s * tokensPerRow + p];
    out[s] = v / positions.length;
  }
  return out;
}

/** The reference enlarges target masks smaller than 256 px of its 768-px-high image; here a side of a quarter image. */
export const MIN_PROPOSAL_SIDE = 0.25;

/**
 * Boxes for subjects from their word maps at `grid`: each cell goes to whichever of the subjects or
 * the start token (background) has the highest mean-normalised attention (the reference's class_seg);
 * a subject's box is the bbox of its cells (or of its own Otsu mask when it wins none), enlarged to
 * MIN_PROPOSAL_SIDE, and boxes still overlapping too much are split between their centres.
 */
export function proposeBoxes(subjectMaps: readonly Float32Array[], background: Float32Array, grid: TokenGrid): Box[] {
  const scaled = [...subjectMaps.map(normalizeMap), background].map((m) => {
    const mean = m.reduce((a, v) => a + v, 0) / m.length;
    return Float32Array.from(m, (v) => v / (mean + 1e-8));
  });
  const winner = Array.from({ length: grid.height * grid.width }, (_, s) => scaled.reduce((best, m, i) => (m[s] > scaled[best][s] ? i : best), 0));
  const boxes = subjectMaps.map((map, i) => {
    let cells: Uint8Array = Uint8Array.from(winner, (w) => (w === i ? 1 : 0));
    if (!maskBounds(cells, grid)) cells = binarizeMap(map, grid, grid);
    const b = maskBounds(cells, grid)!;
    return enlarge([b.left / grid.width, b.top / grid.height, (b.right + 1) / grid.width, (b.bottom + 1) / grid.height]);
  });
  return separate(boxes);
}

function enlarge(b: Box): Box {
  const side = (lo: number, hi: number): [number, number] => {
    if (hi - lo >= MIN_PROPOSAL_SIDE) return [lo, hi];
    const start = Math.min(Math.max((lo + hi) / 2 - MIN_PROPOSAL_SIDE / 2, 0), 1 - MIN_PROPOSAL_SIDE);
    return [start, start + MIN_PROPOSAL_SIDE];
  };
  const [left, right] = side(b[0], b[2]);
  const [top, bottom] = side(b[1], b[3]);
  return [left, top, right, bottom];
}

/** Splits pairs overlapping beyond MAX_OVERLAP along the axis their centres are furthest apart on. */
function separate(boxes: Box[]): Box[] {
  const out = boxes.map((b) => [...b] as [number, number, number, number]);
  for (let i = 0; i < out.length; i++) {
    for (let j = i + 1; j < out.length; j++) {
      const [a, b] = [out[i], out[j]];
      if (overlapArea(a, b) <= MAX_OVERLAP * Math.min(boxArea(a), boxArea(b))) continue;
      const dx = (b[0] + b[2] - a[0] - a[2]) / 2;
      const dy = (b[1] + b[3] - a[1] - a[3]) / 2;
      const axis = Math.abs(dx) >= Math.abs(dy) ? 0 : 1;
      const [first, second] = (axis === 0 ? dx : dy) >= 0 ? [a, b] : [b, a];
      const cut = (first[axis] + first[axis + 2] + second[axis] + second[axis + 2]) / 4;
      first[axis + 2] = Math.max(Math.min(first[axis + 2], cut), first[axis] + 1e-3);
      second[axis] = Math.min(Math.max(second[axis], cut), second[axis + 2] - 1e-3);
    }
  }
  return out;
}
