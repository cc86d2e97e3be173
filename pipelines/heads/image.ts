// The small RGB images head search and effect maps work on: interleaved float RGB in [0, 1],
// row-major (what SdPipeline returns per image), plus the few pixel operations they need.

export interface RgbImage {
  width: number;
  height: number;
  /** width·height·3 values, interleaved RGB, row-major. */
  data: Float32Array;
}

export function checkImage(img: RgbImage, what: string): void {
  if (!(Number.isInteger(img.width) && Number.isInteger(img.height) && img.width > 0 && img.height > 0)) {
    throw new RangeError(`${what}: size ${img.width}×${img.height} is not a positive whole number of pixels`);
  }
  if (img.data.length !== img.width * img.height * 3) {
    throw new RangeError(`${what}: ${img.data.length} values for ${img.width}×${img.height} RGB (expected ${img.width * img.height * 3})`);
  }
}

/** Rec. 601 luma per pixel. */
export function luminance(img: RgbImage): Float32Array {
  const n = img.width * img.height;
  const y = new Float32Array(n);
  for (let p = 0; p < n; p++) y[p] = 0.299 * img.data[3 * p] + 0.587 * img.data[3 * p + 1] + 0.114 * img.data[3 * p + 2];
  return y;
}

/** |a − b| per value; the images must have the same size. */
export function absDiff(a: RgbImage, b: RgbImage): RgbImage {
  if (a.width !== b.width || a.height !== b.height) throw new RangeError(`cannot compare a ${a.width}×${a.height} image with a ${b.width}×${b.height} one`);
  const data = new Float32Array(a.data.length);
  for (let i = 0; i < data.length; i++) data[i] = Math.abs(a.data[i] - b.data[i]);
  return { width: a.width, height: a.height, data };
}

/**
 * Area-average resampling to `width`×`height` (each output pixel is the mean of the source area it
 * covers, fractional pixels weighted), so shrinking keeps the image's mean exactly.
 */
export function resizeArea(img: RgbImage, width: number, height: number): RgbImage {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) throw new RangeError(`resize to ${width}×${height}: need positive whole numbers`);
  const xs = spans(img.width, width);
  const ys = spans(img.height, height);
  const data = new Float32Array(width * height * 3);
  for (let oy = 0; oy < height; oy++) {
    for (let ox = 0; ox < width; ox++) {
      let r = 0, g = 0, b = 0, wsum = 0;
      for (const [sy, wy] of ys[oy]) {
        for (const [sx, wx] of xs[ox]) {
          const w = wy * wx;
          const i = (sy * img.width + sx) * 3;
          r += w * img.data[i];
          g += w * img.data[i + 1];
          b += w * img.data[i + 2];
          wsum += w;
        }
      }
      const o = (oy * width + ox) * 3;
      data[o] = r / wsum;
      data[o + 1] = g / wsum;
      data[o + 2] = b / wsum;
    }
  }
  return { width, height, data };
}

/** For each output index, the source indices it covers with their overlap lengths. */
function spans(from: number, to: number): Array<Array<[number, number]>> {
  const scale = from / to;
  return Array.from({ length: to }, (_, o) => {
    const start = o * scale;
    const end = start + scale;
    const out: Array<[number, number]> = [];
    for (let s = Math.floor(start); s < Math.min(from, Math.ceil(end)); s++) {
      const overlap = Math.min(end, s + 1) - Math.max(start, s);
      if (overlap > 1e-9) out.push([s, overlap]);
    }
    return out;
  });
}

/** 8-bit interleaved RGB (for PNG writers and the UI's previews). */
export function toBytes(img: RgbImage): Uint8Array {
  const out = new Uint8Array(img.data.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.round(Math.min(1, Math.max(0, img.data[i])) * 255);
  return out;
}

export function fromBytes(width: number, height: number, bytes: Uint8Array): RgbImage {
  const data = new Float32Array(bytes.length);
  for (let i = 0; i < data.length; i++) data[i] = bytes[i] / 255;
  const img = { width, height, data };
  checkImage(img, 'image bytes');
  return img;
}
