// A1111's "Inpaint area: Only masked": redraw just the region around the mask (plus padding,
// widened to the image's aspect ratio) at the full generation size, then scale it back and paste it.
import sharp from 'sharp';
import type { InpaintMask } from './mask.ts';

export interface Region { left: number; top: number; width: number; height: number }

/** The mask's bounding box grown by `padding`, then widened to the w:h aspect ratio (A1111's get_crop_region + expand_crop_region). */
export function maskedRegion(mask: InpaintMask, padding: number): Region {
  const { width: w, height: h, blend } = mask;
  let [x1, y1, x2, y2] = [w, h, 0, 0];
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (blend[y * w + x] > 0) [x1, y1, x2, y2] = [Math.min(x1, x), Math.min(y1, y), Math.max(x2, x + 1), Math.max(y2, y + 1)];
  [x1, y1, x2, y2] = [Math.max(0, x1 - padding), Math.max(0, y1 - padding), Math.min(w, x2 + padding), Math.min(h, y2 + padding)];
  const grow = (lo: number, hi: number, want: number, limit: number): [number, number] => {
    want = Math.min(limit, Math.round(want));
    let start = Math.round((lo + hi) / 2 - want / 2);
    start = Math.max(0, Math.min(limit - want, start));
    return [start, start + want];
  };
  const [rw, rh] = [x2 - x1, y2 - y1];
  if (rw / rh < w / h) [x1, x2] = grow(x1, x2, (rh * w) / h, w);
  else [y1, y2] = grow(y1, y2, (rw * h) / w, h);
  return { left: x1, top: y1, width: x2 - x1, height: y2 - y1 };
}

/** Planes [c, H, W] in [0, 1] of a w×h image, cut to `r` and scaled (Lanczos) to outW×outH. */
export async function cropPlanes(planes: Float32Array, channels: number, w: number, h: number, r: Region, outW: number, outH: number): Promise<Float32Array> {
  const plane = w * h;
  const raw = new Uint8Array(plane * channels);
  for (let p = 0; p < plane; p++) for (let c = 0; c < channels; c++) raw[p * channels + c] = Math.round(planes[c * plane + p] * 255);
  let img = sharp(raw, { raw: { width: w, height: h, channels: channels as 1 | 3 } }).extract(r).resize(outW, outH, { fit: 'fill', kernel: 'lanczos3' });
  if (channels === 1) img = img.extractChannel(0);
  const out = await img.raw().toBuffer();
  const outPlane = outW * outH;
  const result = new Float32Array(channels * outPlane);
  for (let p = 0; p < outPlane; p++) for (let c = 0; c < channels; c++) result[c * outPlane + p] = out[p * channels + c] / 255;
  return result;
}

/**
 * Each generated image [n, outH, outW, 3] scaled back to the region and pasted over the full
 * image [1, 3, h, w]: returns [n, h, w, 3], ready for the overlay.
 */
export async function pasteRegion(generated: Float32Array, count: number, outW: number, outH: number, full: Float32Array, w: number, h: number, r: Region): Promise<Float32Array> {
  const plane = w * h;
  const result = new Float32Array(count * plane * 3);
  for (let n = 0; n < count; n++) {
    for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) result[(n * plane + p) * 3 + c] = full[c * plane + p];
    const size = outW * outH * 3;
    const raw = Uint8Array.from(generated.subarray(n * size, (n + 1) * size), (v) => Math.round(Math.min(1, Math.max(0, v)) * 255));
    const back = await sharp(raw, { raw: { width: outW, height: outH, channels: 3 } }).resize(r.width, r.height, { fit: 'fill', kernel: 'lanczos3' }).raw().toBuffer();
    for (let y = 0; y < r.height; y++) for (let x = 0; x < r.width; x++) for (let c = 0; c < 3; c++) {
      result[(n * plane + (r.top + y) * w + r.left + x) * 3 + c] = back[(y * r.width + x) * 3 + c] / 255;
    }
  }
  return result;
}
