// Tiled processing of NCHW arrays: overlapping tiles of one size (so one graph serves them all),
// blended back with weights that ramp linearly across each overlap and sum to one there.

export interface Nchw {
  data: Float32Array;
  /** [batch, channels, height, width] */
  dims: readonly [number, number, number, number];
}

/** Tile starts along one axis: steps of `tile - overlap`, the last tile moved back to end at `length`. */
export function tileStarts(length: number, tile: number, overlap: number): number[] {
  if (tile >= length) return [0];
  if (overlap < 0 || overlap >= tile) throw new RangeError(`tile overlap ${overlap} must be in [0, ${tile})`);
  const stride = tile - overlap;
  const starts: number[] = [];
  for (let s = 0; ; s += stride) {
    if (s + tile >= length) {
      starts.push(length - tile);
      break;
    }
    starts.push(s);
  }
  return starts;
}

/** Blend weight of each output position of tile `i` along one axis (positions scaled by `scale`). */
export function rampWeights(starts: readonly number[], i: number, tile: number, scale: number): Float32Array {
  const n = tile * scale;
  const before = i > 0 ? (starts[i - 1] + tile - starts[i]) * scale : 0;
  const after = i < starts.length - 1 ? (starts[i] + tile - starts[i + 1]) * scale : 0;
  const w = new Float32Array(n);
  for (let u = 0; u < n; u++) {
    const left = before > 0 ? Math.min(1, (u + 0.5) / before) : 1;
    const right = after > 0 ? Math.min(1, (n - u - 0.5) / after) : 1;
    w[u] = left * right;
  }
  return w;
}

/** The [B, C, th, tw] window of `x` at (y0, x0), written to the start of `out`. */
function cropInto(out: Float32Array, x: Nchw, y0: number, x0: number, th: number, tw: number): void {
  const [b, c, h, w] = x.dims;
  for (let p = 0; p < b * c; p++) {
    for (let y = 0; y < th; y++) {
      const src = p * h * w + (y0 + y) * w + x0;
      out.set(x.data.subarray(src, src + tw), (p * th + y) * tw);
    }
  }
}

/**
 * Each tile's blend weights along one axis (positions scaled by `scale`), divided by all tiles' ramps at that
 * position: the ramps of a tile grid multiply across the axes, so the product of two such weights is the
 * tile's ramp over the sum of all ramps at that pixel, and the blend needs no second pass to normalise.
 */
export function normalisedWeights(starts: readonly number[], tile: number, scale: number): Float32Array[] {
  const ramps = starts.map((_, i) => rampWeights(starts, i, tile, scale));
  const total = new Float64Array((starts[starts.length - 1] + tile) * scale);
  ramps.forEach((w, i) => w.forEach((v, u) => (total[starts[i] * scale + u] += v)));
  return ramps.map((w, i) => w.map((v, u) => v / total[starts[i] * scale + u]));
}

/** Where a tile was cut, in grid cells. */
export interface TileOrigin {
  y: number;
  x: number;
}

export interface TiledApplyOptions {
  /** Input pixels per grid cell (encode: 8; default 1). */
  inScale?: number;
  /** Tiles stacked along the batch axis per `fn` call (default 1); the last call may get fewer. */
  perCall?: number;
}

/**
 * Applies `fn` to overlapping tiles of `input` and blends the results. Tiles are laid out on a grid
 * whose cell is `inScale` input pixels and `scale` output pixels (decode: 1 → 8, encode: 8 → 1):
 * `fn` maps k tiles [k·B, C, th·inScale, tw·inScale], cut at grid positions `origins` (k = `perCall`, or what
 * is left), to [k·B, C', th·scale, tw·scale]; the tiles' buffer is reused by the next call. Tiles are
 * `tile`×`tile` cells (smaller when the input is).
 */
export async function tiledApply(
  input: Nchw,
  tile: number,
  overlap: number,
  scale: number,
  fn: (tiles: Nchw, origins: TileOrigin[]) => Promise<Nchw>,
  o: TiledApplyOptions = {},
): Promise<Nchw> {
  const inScale = o.inScale ?? 1;
  const perCall = o.perCall ?? 1;
  const [b, c, inH, inW] = input.dims;
  if (inH % inScale || inW % inScale) throw new RangeError(`input ${inW}×${inH} is not a multiple of the tile grid's ${inScale} pixels`);
  if (!Number.isInteger(perCall) || perCall < 1) throw new RangeError(`tiles per call ${perCall}: give a whole number from 1`);
  const [h, w] = [inH / inScale, inW / inScale];
  const th = Math.min(tile, h);
  const tw = Math.min(tile, w);
  const ys = tileStarts(h, th, overlap);
  const xs = tileStarts(w, tw, overlap);
  const [wys, wxs] = [normalisedWeights(ys, th, scale), normalisedWeights(xs, tw, scale)];
  const cells = ys.flatMap((_, iy) => xs.map((_, ix) => [iy, ix] as const));
  let sum: Float32Array | undefined;
  let outC = 0;
  const [H, W] = [h * scale, w * scale];
  const inTile = b * c * th * inScale * tw * inScale;
  // One input buffer for every call: a fresh one per tile costs its page faults each time (a 1024 px image tile: 12 MB).
  const buffer = new Float32Array(Math.min(perCall, cells.length) * inTile);
  for (let first = 0; first < cells.length; first += perCall) {
    const group = cells.slice(first, first + perCall);
    const stacked = buffer.subarray(0, group.length * inTile);
    group.forEach(([iy, ix], k) => cropInto(stacked.subarray(k * inTile), input, ys[iy] * inScale, xs[ix] * inScale, th * inScale, tw * inScale));
    const out = await fn({ data: stacked, dims: [group.length * b, c, th * inScale, tw * inScale] }, group.map(([iy, ix]) => ({ y: ys[iy], x: xs[ix] })));
    const [ob, oc, oh, ow] = out.dims;
    if (ob !== group.length * b || oh !== th * scale || ow !== tw * scale) throw new Error(`tile function returned [${out.dims}] for ${group.length} [${b}, ?, ${th * inScale}, ${tw * inScale}] tiles at scale ${scale}/${inScale}`);
    if (!sum) {
      outC = oc;
      sum = new Float32Array(b * oc * H * W);
    }
    const outTile = b * oc * oh * ow;
    group.forEach(([iy, ix], k) => blendInto(sum!, [H, W], out.data.subarray(k * outTile, (k + 1) * outTile), [b * oc, oh, ow], [ys[iy] * scale, xs[ix] * scale], wys[iy], wxs[ix]));
  }
  return { data: sum!, dims: [b, outC, H, W] };
}

/** sum[p, oy + y, ox + x] += wy[y] · wx[x] · tile[p, y, x], row by row. */
function blendInto(sum: Float32Array, [H, W]: readonly [number, number], t: Float32Array, [planes, th, tw]: readonly [number, number, number], [oy, ox]: readonly [number, number], wy: Float32Array, wx: Float32Array): void {
  for (let p = 0; p < planes; p++) {
    for (let y = 0; y < th; y++) {
      const weight = wy[y];
      const dst = p * H * W + (oy + y) * W + ox;
      const src = (p * th + y) * tw;
      for (let x = 0; x < tw; x++) sum[dst + x] += weight * wx[x] * t[src + x];
    }
  }
}
