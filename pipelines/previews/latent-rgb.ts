// The cheapest live preview: each latent pixel mapped to RGB by one affine map (latent channels → R, G, B),
// fitted per VAE by least squares (./vae-fit.ts). The solve is a few lines of normal equations over at most
// 17 unknowns, so it is written here rather than pulling in a matrix library.
import type { RgbImage } from '../metadata/encode-png.ts';

/** Image 0 of latents [N, C, h, w] as a small RGB picture (what every previewer is). */
export type LatentPreviewer = (latents: Float32Array, height: number, width: number) => Promise<RgbImage>;

/** rgb[k] = Σ_c weights[k·C + c]·latent[c] + bias[k], in the decoder's [−1, 1] image range. */
export interface LatentRgbMap {
  channels: number;
  /** [3, C], row-major. */
  weights: Float32Array;
  bias: Float32Array;
}

/** Image 0 of `latents` [N, C, h, w] through `map`, as 8-bit RGB at the latent resolution. */
export function applyLatentRgb(map: LatentRgbMap, latents: Float32Array, height: number, width: number): RgbImage {
  const plane = height * width;
  const c = map.channels;
  const pixels = new Uint8Array(plane * 3);
  for (let p = 0; p < plane; p++) {
    for (let k = 0; k < 3; k++) {
      let v = map.bias[k];
      for (let j = 0; j < c; j++) v += map.weights[k * c + j] * latents[j * plane + p];
      pixels[p * 3 + k] = Math.max(0, Math.min(255, Math.round((v / 2 + 0.5) * 255)));
    }
  }
  return { width, height, pixels };
}

/**
 * Least-squares affine fit: `latents` [C, P] (channel-major) → `targets` [3, P] (channel-major).
 * Solves (XᵀX + λI)·β = Xᵀy with X = [latents; 1]; λ is tiny, only to keep a flat channel solvable.
 */
export function fitLatentRgb(latents: Float32Array, targets: Float32Array, channels: number): LatentRgbMap {
  const points = latents.length / channels;
  if (!Number.isInteger(points) || targets.length !== 3 * points) throw new RangeError(`fitLatentRgb: ${latents.length} latent values over ${channels} channels do not match ${targets.length} target values`);
  const n = channels + 1;
  const feature = (j: number, p: number) => (j === channels ? 1 : latents[j * points + p]);
  const gram = new Float64Array(n * n);
  const rhs = new Float64Array(n * 3);
  for (let p = 0; p < points; p++) {
    for (let a = 0; a < n; a++) {
      const fa = feature(a, p);
      for (let b = 0; b < n; b++) gram[a * n + b] += fa * feature(b, p);
      for (let k = 0; k < 3; k++) rhs[a * 3 + k] += fa * targets[k * points + p];
    }
  }
  let trace = 0;
  for (let a = 0; a < n; a++) trace += gram[a * n + a];
  for (let a = 0; a < n; a++) gram[a * n + a] += 1e-9 * trace;
  const beta = solve(gram, rhs, n, 3);
  const weights = new Float32Array(3 * channels);
  const bias = new Float32Array(3);
  for (let k = 0; k < 3; k++) {
    for (let j = 0; j < channels; j++) weights[k * channels + j] = beta[j * 3 + k];
    bias[k] = beta[channels * 3 + k];
  }
  return { channels, weights, bias };
}

/** Gaussian elimination with partial pivoting: A [n, n] · X [n, m] = B [n, m]; A and B are overwritten. */
function solve(a: Float64Array, b: Float64Array, n: number, m: number): Float64Array {
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(a[r * n + col]) > Math.abs(a[pivot * n + col])) pivot = r;
    if (a[pivot * n + col] === 0) throw new RangeError('fitLatentRgb: the latents do not span their channels (singular system)');
    if (pivot !== col) {
      for (let k = 0; k < n; k++) [a[col * n + k], a[pivot * n + k]] = [a[pivot * n + k], a[col * n + k]];
      for (let k = 0; k < m; k++) [b[col * m + k], b[pivot * m + k]] = [b[pivot * m + k], b[col * m + k]];
    }
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = a[r * n + col] / a[col * n + col];
      if (f === 0) continue;
      for (let k = col; k < n; k++) a[r * n + k] -= f * a[col * n + k];
      for (let k = 0; k < m; k++) b[r * m + k] -= f * b[col * m + k];
    }
  }
  const x = new Float64Array(n * m);
  for (let r = 0; r < n; r++) for (let k = 0; k < m; k++) x[r * m + k] = b[r * m + k] / a[r * n + r];
  return x;
}
