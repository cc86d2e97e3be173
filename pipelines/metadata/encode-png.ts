// 8-bit RGB pixels → PNG file with text chunks. sharp does the pixel encoding (it writes no text
// chunks of its own); the text chunks are spliced in afterwards.
import sharp from 'sharp';
import { setPngText } from './png-text.ts';

export interface RgbImage {
  width: number;
  height: number;
  /** Interleaved RGB, row-major. */
  pixels: Uint8Array;
}

export async function encodePng(image: RgbImage, text: ReadonlyArray<readonly [string, string]> = []): Promise<Uint8Array> {
  const { width, height, pixels } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`encodePng: image size must be positive integers, got ${width}x${height}`);
  }
  if (pixels.length !== width * height * 3) {
    throw new RangeError(`encodePng: ${width}x${height} RGB needs ${width * height * 3} bytes, got ${pixels.length}`);
  }
  const png = await sharp(pixels, { raw: { width, height, channels: 3 } }).png({ compressionLevel: 6 }).toBuffer();
  const bytes = new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
  return text.length ? setPngText(bytes, text) : bytes;
}
