// Pillow's `Image.resize(size)` with its default filter (bicubic, a = -0.5) on 8-bit RGB, bit for bit:
// separable passes (horizontal, then vertical) with Pillow's fixed-point coefficients and rounding, each
// pass rounding back to 8 bits. LinFusion's ladder resizes every stage this way; sharp's cubic kernel
// places and rounds samples differently, so the reference's images could not be reproduced with it.
import type { Rgb8 } from '../../jobs/api.ts';

const PRECISION_BITS = 32 - 8 - 2;
const SUPPORT = 2;

function bicubic(x: number): number {
  const a = -0.5;
  x = Math.abs(x);
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

interface Coefficients {
  /** Per output pixel: first input index and how many inputs it reads. */
  bounds: Int32Array;
  /** Per output pixel, `size` fixed-point weights. */
  weights: Int32Array;
  size: number;
  /** Fraction bits of the weights. */
  precision: number;
}

/**
 * Fixed-point fraction bits: Pillow's 22, or PyTorch's antialiased uint8 resize (what torchvision-backed
 * image processors use), which takes as many bits as keep the largest weight inside an int16.
 */
export type ResizePrecision = 'pillow' | 'torch';

function fractionBits(weights: Float64Array, mode: ResizePrecision): number {
  if (mode === 'pillow') return PRECISION_BITS;
  const max = weights.reduce((m, w) => Math.max(m, w), 0);
  let bits = 0;
  while (bits < 22 && Math.trunc(0.5 + max * 2 ** (bits + 1)) < 1 << 15) bits++;
  return bits;
}

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc for one axis. */
function coefficients(inSize: number, outSize: number, mode: ResizePrecision): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = SUPPORT * filterScale;
  const size = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const normalized = new Float64Array(outSize * size);
  const k = new Float64Array(size);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterScale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      k[x] = bicubic((x + xmin - center + 0.5) * ss);
      ww += k[x];
    }
    for (let x = 0; x < xmax; x++) normalized[xx * size + x] = ww !== 0 ? k[x] / ww : k[x];
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  const precision = fractionBits(normalized, mode);
  const weights = Int32Array.from(normalized, (w) => (w < 0 ? Math.trunc(-0.5 + w * 2 ** precision) : Math.trunc(0.5 + w * 2 ** precision)));
  return { bounds, weights, size, precision };
}

const clip8 = (v: number, precision: number): number => {
  const s = Math.floor(v / 2 ** precision);
  return s < 0 ? 0 : s > 255 ? 255 : s;
};

/** One pass along x (stride 3 between pixels, rows of `rowLen` bytes) or along y. */
function horizontal(src: Uint8Array, w: number, h: number, outW: number, mode: ResizePrecision): Uint8Array {
  const c = coefficients(w, outW, mode);
  const out = new Uint8Array(outW * h * 3);
  for (let y = 0; y < h; y++) {
    for (let xx = 0; xx < outW; xx++) {
      const [xmin, n] = [c.bounds[xx * 2], c.bounds[xx * 2 + 1]];
      for (let ch = 0; ch < 3; ch++) {
        let ss = 2 ** (c.precision - 1);
        for (let x = 0; x < n; x++) ss += src[(y * w + xmin + x) * 3 + ch] * c.weights[xx * c.size + x];
        out[(y * outW + xx) * 3 + ch] = clip8(ss, c.precision);
      }
    }
  }
  return out;
}

function vertical(src: Uint8Array, w: number, h: number, outH: number, mode: ResizePrecision): Uint8Array {
  const c = coefficients(h, outH, mode);
  const out = new Uint8Array(w * outH * 3);
  for (let yy = 0; yy < outH; yy++) {
    const [ymin, n] = [c.bounds[yy * 2], c.bounds[yy * 2 + 1]];
    for (let x = 0; x < w; x++) {
      for (let ch = 0; ch < 3; ch++) {
        let ss = 2 ** (c.precision - 1);
        for (let y = 0; y < n; y++) ss += src[((ymin + y) * w + x) * 3 + ch] * c.weights[yy * c.size + y];
        out[(yy * w + x) * 3 + ch] = clip8(ss, c.precision);
      }
    }
  }
  return out;
}

/** `image.resize((width, height))` as Pillow (≥ 7) does it for an RGB image (`mode` 'torch': PyTorch's antialiased bicubic). */
export function pilResizeBicubic(image: Rgb8, width: number, height: number, mode: ResizePrecision = 'pillow'): Rgb8 {
  let pixels = image.pixels;
  if (width !== image.width) pixels = horizontal(pixels, image.width, image.height, width, mode);
  if (height !== image.height) pixels = vertical(pixels, width, image.height, height, mode);
  return { width, height, pixels: pixels === image.pixels ? pixels.slice() : pixels };
}
