// Pixel conversions between files, the engine's float tensors and 8-bit RGB.
import sharp from 'sharp';
import type { RgbImage } from '../metadata/encode-png.ts';

/** Reads an image file, resized to width×height (stretched, as A1111's "Just resize"), as [1, 3, H, W] in [0, 1]. */
export async function readImageNchw(path: string, width: number, height: number): Promise<Float32Array> {
  let raw: Buffer;
  try {
    raw = await sharp(path).removeAlpha().resize(width, height, { fit: 'fill' }).raw().toBuffer();
  } catch (e) {
    throw new Error(`${path}: cannot read as an image (${(e as Error).message})`);
  }
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) out[c * plane + p] = raw[p * 3 + c] / 255;
  return out;
}

/** Reads an image file at its own size as 8-bit RGB (alpha dropped). */
export async function readRgb8(path: string): Promise<RgbImage> {
  try {
    const { data, info } = await sharp(path).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    return { width: info.width, height: info.height, pixels: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  } catch (e) {
    throw new Error(`${path}: cannot read as an image (${(e as Error).message})`);
  }
}

/** Image `n` of an NHWC [0, 1] float batch as 8-bit RGB. */
export function toRgb8(nhwc: Float32Array, n: number, width: number, height: number): RgbImage {
  const size = width * height * 3;
  const pixels = new Uint8Array(size);
  for (let i = 0; i < size; i++) pixels[i] = Math.round(Math.min(1, Math.max(0, nhwc[n * size + i])) * 255);
  return { width, height, pixels };
}

/**
 * A decoder's [N, 3, H, W] output in about [-1, 1] → [N, H, W, 3] in [0, 1], clamped (diffusers'
 * `image / 2 + 0.5` then clamp; the DiT and emoji references clamp the same values).
 */
export function toNhwc01(decoded: Float32Array, n: number, height: number, width: number): Float32Array {
  const plane = height * width;
  const out = new Float32Array(n * plane * 3);
  for (let b = 0; b < n; b++) {
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < plane; p++) {
        const v = decoded[(b * 3 + c) * plane + p] / 2 + 0.5;
        out[(b * plane + p) * 3 + c] = v < 0 ? 0 : v > 1 ? 1 : v;
      }
    }
  }
  return out;
}
