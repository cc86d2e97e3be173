// Latent upscaling for the hires fix, as A1111 does it with torch.nn.functional.interpolate(size=…)
// (align_corners=False, no antialias). Written here because no npm image library works on
// 4-channel float planes; the formulas are torch's, so the results match A1111's.

export type LatentMode = 'nearest' | 'bilinear' | 'bicubic';

/** [n, c, h, w] → [n, c, outH, outW]. */
export function upscaleLatents(x: Float32Array, planes: number, h: number, w: number, outH: number, outW: number, mode: LatentMode): Float32Array {
  const out = new Float32Array(planes * outH * outW);
  const rows = taps(h, outH, mode);
  const cols = taps(w, outW, mode);
  for (let p = 0; p < planes; p++) {
    const src = p * h * w;
    const dst = p * outH * outW;
    for (let y = 0; y < outH; y++) {
      for (let xo = 0; xo < outW; xo++) {
        let v = 0;
        for (const [iy, wy] of rows[y]) for (const [ix, wx] of cols[xo]) v += wy * wx * x[src + iy * w + ix];
        out[dst + y * outW + xo] = v;
      }
    }
  }
  return out;
}

/** For each output index, the input indices and weights torch reads (one axis). */
function taps(size: number, outSize: number, mode: LatentMode): Array<Array<[number, number]>> {
  const scale = size / outSize;
  const clamp = (i: number) => Math.min(size - 1, Math.max(0, i));
  return Array.from({ length: outSize }, (_, d) => {
    if (mode === 'nearest') return [[Math.min(size - 1, Math.floor(d * scale)), 1]];
    if (mode === 'bilinear') {
      const s = Math.max(0, (d + 0.5) * scale - 0.5);
      const i = Math.floor(s);
      const t = s - i;
      return [[clamp(i), 1 - t], [clamp(i + 1), t]];
    }
    const s = (d + 0.5) * scale - 0.5;
    const i = Math.floor(s);
    const t = s - i;
    return cubicWeights(t).map((wt, k): [number, number] => [clamp(i - 1 + k), wt]);
  });
}

/** torch's cubic convolution weights (A = -0.75) for the four taps around a point `t` past the second. */
function cubicWeights(t: number): number[] {
  const A = -0.75;
  const near = (x: number) => ((A + 2) * x - (A + 3)) * x * x + 1;
  const far = (x: number) => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
  return [far(t + 1), near(t), near(1 - t), far(2 - t)];
}
