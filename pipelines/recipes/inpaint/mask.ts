// Inpainting masks: read and blurred as A1111 does, brought down to latent size as diffusers'
// StableDiffusionInpaintPipeline does, and the overlay that keeps every unmasked pixel of the input.
// White = repaint, black = keep.
import sharp from 'sharp';
import { BadRequestError } from '../../jobs/api.ts';

export interface InpaintMask {
  width: number;
  height: number;
  /** [height · width] in [0, 1]: the mask after --mask-blur, the blend of the final overlay. */
  blend: Float32Array;
  /** Set when the mask file had another size than the image (it was stretched to fit). */
  resizedFrom?: { width: number; height: number };
}

/**
 * Reads a mask as grey levels at the image's size, blurred by `blur` pixels (a Gaussian of that
 * sigma; 0 = none). Refuses a mask with nothing to repaint.
 */
export async function readMask(path: string, width: number, height: number, blur: number): Promise<InpaintMask> {
  const image = sharp(path);
  let size: { width?: number; height?: number };
  try {
    size = await image.metadata();
  } catch (e) {
    throw new BadRequestError(`--mask ${path}: cannot read as an image (${(e as Error).message})`);
  }
  const grey = await image.flatten({ background: '#000000' }).grayscale().resize(width, height, { fit: 'fill' }).raw().toBuffer();
  const blend = await blurredMask(grey, width, height, blur);
  if (!blend.some((v) => v > 0)) throw new BadRequestError(`--mask ${path} is all black: nothing to repaint (paint white where the image should change; black is kept)`);
  const resized = size.width !== width || size.height !== height;
  return { width, height, blend, ...(resized ? { resizedFrom: { width: size.width ?? 0, height: size.height ?? 0 } } : {}) };
}

/** One grey channel (0–255) blurred by `blur` pixels (a Gaussian of that sigma; 0 = none), as [0, 1]. */
export async function blurredMask(grey: Uint8Array, width: number, height: number, blur: number): Promise<Float32Array> {
  let image = sharp(grey, { raw: { width, height, channels: 1 } });
  if (blur > 0) image = image.blur(Math.max(0.3, blur));
  // sharp hands a one-channel raw input back as RGB unless asked for one channel.
  const raw = await image.extractChannel(0).raw().toBuffer();
  return Float32Array.from(raw, (v) => v / 255);
}

/**
 * The latent-size mask (1 = repaint): binarised at 0.5 as diffusers' mask processor does, then
 * taken with torch's `interpolate(mode='nearest')`, which picks pixel (8y, 8x) for latent (y, x).
 */
export function latentMask(mask: InpaintMask, scale: number): Float32Array {
  const [h, w] = [mask.height / scale, mask.width / scale];
  const out = new Float32Array(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[y * w + x] = mask.blend[y * scale * mask.width + x * scale] >= 0.5 ? 1 : 0;
  return out;
}

/** The mask at image size, binarised at 0.5 (1 = repaint): what inpainting UNets blank the init image with. */
export function binaryMask(mask: InpaintMask): Float32Array {
  return mask.blend.map((v) => (v >= 0.5 ? 1 : 0));
}

/**
 * A1111's overlay: each generated image [n, H, W, 3] in [0, 1] becomes init·(1 − m) + generated·m
 * with m the blurred mask, so where m = 0 the input's pixels come back exactly. `init` is [1, 3, H, W].
 */
export function overlayInit(generated: Float32Array, count: number, init: Float32Array, mask: InpaintMask): void {
  const plane = mask.width * mask.height;
  for (let n = 0; n < count; n++) {
    for (let p = 0; p < plane; p++) {
      const m = mask.blend[p];
      if (m === 1) continue;
      for (let c = 0; c < 3; c++) {
        const i = (n * plane + p) * 3 + c;
        generated[i] = init[c * plane + p] * (1 - m) + generated[i] * m;
      }
    }
  }
}
