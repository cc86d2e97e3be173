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

export function crop(x: Nchw, y0: number, x0: number, th: number, tw: number): Nchw {
  const [b, c, h, w] = x.dims;
  const out = new Float32Array(b * c * th * tw);
  for (let p = 0; p < b * c; p++) {
    for (let y = 0; y < th; y++) {
      const src = p * h * w + (y0 + y) * w + x0;
      out.set(x.data.subarray(src, src + tw), (p * th + y) * tw);
    }
  }
  return { data: out, dims: [b, c, th, tw] };
}

/**
 * Applies `fn` to overlapping tiles of `input` and blends the results. Tiles are laid out on a grid
 * whose cell is `inScale` input pixels and `scale` output pixels (decode: 1 → 8, encode: 8 → 1):
 * `fn` maps a [B, C, th·inScale, tw·inScale] tile, cut at grid position `origin`, to
 * [B, C', th·scale, tw·scale]. Tiles are `tile`×`tile` cells (smaller when the input is).
 */
export async function tiledApply(
  input: Nchw,
  tile: number,
  overlap: number,
  scale: number,
  fn: (tile: Nchw, origin: { y: number; x: number }) => Promise<Nchw>,
  inScale = 1,
): Promise<Nchw> {
  const [b, , inH, inW] = input.dims;
  if (inH % inScale || inW % inScale) throw new RangeError(`input ${inW}×${inH} is not a multiple of the tile grid's ${inScale} pixels`);
  const [h, w] = [inH / inScale, inW / inScale];
  const th = Math.min(tile, h);
  const tw = Math.min(tile, w);
  const ys = tileStarts(h, th, overlap);
  const xs = tileStarts(w, tw, overlap);
  let sum: Float32Array | undefined;
  let outC = 0;
  const weightSum = new Float32Array(h * scale * w * scale);
  const [H, W] = [h * scale, w * scale];
  for (let iy = 0; iy < ys.length; iy++) {
    const wy = rampWeights(ys, iy, th, scale);
    for (let ix = 0; ix < xs.length; ix++) {
      const wx = rampWeights(xs, ix, tw, scale);
      const out = await fn(crop(input, ys[iy] * inScale, xs[ix] * inScale, th * inScale, tw * inScale), { y: ys[iy], x: xs[ix] });
      const [ob, oc, oh, ow] = out.dims;
      if (ob !== b || oh !== th * scale || ow !== tw * scale) throw new Error(`tile function returned [${out.dims}] for a [${b}, ?, ${th * inScale}, ${tw * inScale}] tile at scale ${scale}/${inScale}`);
      if (!sum) {
        outC = oc;
        sum = new Float32Array(b * oc * H * W);
      }
      const [oy, ox] = [ys[iy] * scale, xs[ix] * scale];
      for (let y = 0; y < oh; y++) {
        for (let x = 0; x < ow; x++) {
          const wgt = wy[y] * wx[x];
          const at = (oy + y) * W + ox + x;
          weightSum[at] += wgt;
          for (let p = 0; p < b * oc; p++) sum[p * H * W + at] += wgt * out.data[(p * oh + y) * ow + x];
        }
      }
    }
  }
  const result = sum!;
  for (let p = 0; p < b * outC; p++) for (let i = 0; i < H * W; i++) result[p * H * W + i] /= weightSum[i];
  return { data: result, dims: [b, outC, H, W] };
}
