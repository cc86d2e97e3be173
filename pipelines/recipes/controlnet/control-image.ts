// A ControlNet's control image at the size being drawn: read, stretched to fit when its size differs
// (with a notice, as the mask is), and prepared by the unit's preprocessor.
import sharp from 'sharp';
import { BadRequestError, CONTROL_PREVIEW_MAX_SIDE, type ControlPreprocessor, type ControlPreviewJob, type ControlPreviewResult } from '../../jobs/api.ts';
import { canny, softEdges } from './edges.ts';

export interface ControlImage {
  /** [1, 3, height, width] in [0, 1]. */
  image: Float32Array;
  notice?: string;
}

async function imageSize(path: string): Promise<{ width?: number; height?: number }> {
  try {
    return await sharp(path).metadata();
  } catch (e) {
    throw new BadRequestError(`--control-image ${path}: cannot read as an image (${(e as Error).message})`);
  }
}

export async function readControlImage(path: string, width: number, height: number, preprocess: ControlPreprocessor): Promise<ControlImage> {
  const size = await imageSize(path);
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

/** The control.preview job: the image through its preprocessor at its own size (scaled down to fit the preview). */
export async function controlPreview(job: ControlPreviewJob): Promise<ControlPreviewResult> {
  const size = await imageSize(job.image);
  const k = Math.min(1, CONTROL_PREVIEW_MAX_SIDE / Math.max(size.width ?? 1, size.height ?? 1));
  const width = Math.max(1, Math.round((size.width ?? 1) * k));
  const height = Math.max(1, Math.round((size.height ?? 1) * k));
  const { image } = await readControlImage(job.image, width, height, job.preprocess);
  const plane = width * height;
  const pixels = new Uint8Array(3 * plane);
  for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) pixels[p * 3 + c] = Math.round(image[c * plane + p] * 255);
  return { image: { width, height, pixels } };
}
