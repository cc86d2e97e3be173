// Outpainting: the init image on a larger canvas, the new border filled by repeating the image's
// edge pixels (a start the sampler can redraw from), and a mask that repaints only that border.
import sharp from 'sharp';
import type { Outpaint } from '../../jobs/api.ts';
import { blurredMask, type InpaintMask } from './mask.ts';

export interface OutpaintCanvas {
  /** [1, 3, H, W] in [0, 1] at the canvas size. */
  image: Float32Array;
  mask: InpaintMask;
}

/** The init image drawn at width×height, then extended by `pads` on each side. */
export async function outpaintCanvas(path: string, width: number, height: number, pads: Outpaint, blur: number): Promise<OutpaintCanvas> {
  const cw = width + pads.left + pads.right;
  const ch = height + pads.top + pads.bottom;
  let raw: Buffer;
  try {
    raw = await sharp(path).removeAlpha().resize(width, height, { fit: 'fill' }).extend({ ...pads, extendWith: 'copy' }).raw().toBuffer();
  } catch (e) {
    throw new Error(`${path}: cannot read as an image (${(e as Error).message})`);
  }
  const plane = cw * ch;
  const image = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) image[c * plane + p] = raw[p * 3 + c] / 255;
  const grey = new Uint8Array(plane).fill(255);
  for (let y = pads.top; y < pads.top + height; y++) grey.fill(0, y * cw + pads.left, y * cw + pads.left + width);
  return { image, mask: { width: cw, height: ch, blend: await blurredMask(grey, cw, ch, blur) } };
}
