// The IP-Adapter image as CLIP's image processor prepares it (transformers' CLIPImageProcessor, which
// diffusers makes at the encoder's image_size): RGB, shortest side resized to the size with antialiased
// bicubic on 8-bit pixels (transformers 5 resizes with torchvision: Pillow's kernel with PyTorch's
// fixed-point weights, bit for bit), the long side to int(size · long / short), a centred square crop,
// then (x / 255 − mean) / std with OpenAI CLIP's mean and std.
import sharp from 'sharp';
import { BadRequestError } from '../../jobs/api.ts';
import { pilResizeBicubic } from '../hires/pil-resize.ts';

const MEAN = [0.48145466, 0.4578275, 0.40821073];
const STD = [0.26862954, 0.26130258, 0.27577711];

/** [1, 3, size, size] pixel values for the image encoder. */
export async function clipImagePixels(path: string, size: number): Promise<Float32Array> {
  let raw: { data: Buffer; info: { width: number; height: number } };
  try {
    raw = await sharp(path).flatten({ background: '#000000' }).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new BadRequestError(`--ip-image ${path}: cannot read as an image (${(e as Error).message})`);
  }
  const { width, height } = raw.info;
  const short = Math.min(width, height);
  const long = Math.trunc((size * Math.max(width, height)) / short);
  const [w, h] = width <= height ? [size, long] : [long, size];
  const resized = pilResizeBicubic({ width, height, pixels: new Uint8Array(raw.data) }, w, h, 'torch');
  const [top, left] = [Math.floor((h - size) / 2), Math.floor((w - size) / 2)];
  const plane = size * size;
  const out = new Float32Array(3 * plane);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const at = ((top + y) * w + left + x) * 3;
      for (let c = 0; c < 3; c++) out[c * plane + y * size + x] = (resized.pixels[at + c] / 255 - MEAN[c]) / STD[c];
    }
  }
  return out;
}
