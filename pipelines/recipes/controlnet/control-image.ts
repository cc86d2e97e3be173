// A ControlNet's control image at the size being drawn: read, stretched to fit when its size differs
// (with a notice, as the mask is), and prepared by the unit's preprocessor.
import sharp from 'sharp';
import { BadRequestError, type ControlPreprocessor } from '../../jobs/api.ts';
import { canny, softEdges } from './edges.ts';

export interface ControlImage {
  /** [1, 3, height, width] in [0, 1]. */
  image: Float32Array;
  notice?: string;
}

export async function readControlImage(path: string, width: number, height: number, preprocess: ControlPreprocessor): Promise<ControlImage> {
  let size: { width?: number; height?: number };
  try {
    size = await sharp(path).metadata();
  } catch (e) {
    throw new BadRequestError(`--control-image ${path}: cannot read as an image (${(e as Error).message})`);
  }
  const resized = size.width !== width || size.height !== height;
  const fitted = sharp(path).flatten({ background: '#000000' }).resize(width, height, { fit: 'fill', kernel: 'lanczos3' });
  const plane = width * height;
  const image = new Float32Array(3 * plane);
  if (preprocess === 'none') {
    const rgb = await fitted.removeAlpha().toColourspace('srgb').raw().toBuffer();
    for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) image[c * plane + p] = rgb[p * 3 + c] / 255;
  } else {
    const grey = preprocess === 'softedge' ? fitted.grayscale().blur(2) : fitted.grayscale();
    const raw = new Uint8Array(await grey.extractChannel(0).raw().toBuffer());
    const edges = preprocess === 'canny' ? canny(raw, width, height) : softEdges(raw, width, height);
    for (let c = 0; c < 3; c++) for (let p = 0; p < plane; p++) image[c * plane + p] = edges[p] / 255;
  }
  const notice = resized ? `the control image ${path} is ${size.width}×${size.height} and the image ${width}×${height}: it was resized to fit` : undefined;
  return { image, notice };
}
