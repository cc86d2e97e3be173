// The Gaussian blur of LinFusion's dilated branch (gaussian_kernel / gaussian_filter in its SDXL pipelines):
// a normalised separable kernel of odd size, applied per channel with zero padding of size // 2, float32. Written
// here: it runs on a few small latent planes per step, and sharp's blur works on 8-bit images with edge padding.
import type { LatentShape } from '../sd/pipeline.ts';

const f32 = Math.fround;

/** The 1-D kernel: exp(−(i − (size − 1) / 2)² / (2σ²)), normalised to sum 1 (the 2-D kernel is its outer product). */
export function gaussianKernel(size: number, sigma: number): Float32Array {
  if (!Number.isInteger(size) || size < 1 || size % 2 === 0) throw new RangeError(`Gaussian kernel size must be odd and positive, got ${size}`);
  if (!(sigma > 0)) throw new RangeError(`Gaussian sigma must be above 0, got ${sigma}`);
  const k = new Float32Array(size);
  const twoSigma2 = f32(2 * sigma * sigma);
  for (let i = 0; i < size; i++) k[i] = Math.exp(-f32(f32(i - (size - 1) / 2) ** 2) / twoSigma2);
  let sum = 0;
  for (const v of k) sum = f32(sum + v);
  return k.map((v) => v / sum);
}

/** Every latent plane convolved with the size × size kernel (zero padding, output the same size). */
export function gaussianBlur(x: Float32Array, l: LatentShape, size: number, sigma: number): Float32Array {
  const k = gaussianKernel(size, sigma);
  const r = (size - 1) / 2;
  const { height: H, width: W } = l;
  const out = new Float32Array(x.length);
  for (let p = 0; p < l.images * l.channels; p++) {
    const base = p * H * W;
    for (let y = 0; y < H; y++) {
      for (let xx = 0; xx < W; xx++) {
        let s = 0;
        for (let dy = -r; dy <= r; dy++) {
          const yy = y + dy;
          if (yy < 0 || yy >= H) continue;
          const ky = k[dy + r];
          for (let dx = -r; dx <= r; dx++) {
            const xs = xx + dx;
            if (xs >= 0 && xs < W) s += f32(ky * k[dx + r]) * x[base + yy * W + xs];
          }
        }
        out[base + y * W + xx] = s;
      }
    }
  }
  return out;
}
