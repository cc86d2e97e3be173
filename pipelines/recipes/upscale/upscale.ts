// The upscale job: read the image, run the user's upscaler over it in blended tiles, resize to the asked
// scale when it is not the upscaler's own (Lanczos, as A1111 does), and hand back 8-bit RGB.
import sharp from 'sharp';
import { BadRequestError, type UpscaleJob, type UpscaleResult } from '../../jobs/api.ts';
import { openUpscaler, UpscalerFormatError } from '../../models/upscale/detect.ts';
import type { Nchw } from '../../models/vae/tiling.ts';
import { TensorFileError } from '../../io/tensor-file.ts';
import { providerOrCpu } from '../../runtime/providers.ts';
import { Upscaler, type UpscaleOptions } from './upscaler.ts';

/** The last upscaler used stays loaded (its sessions too) for the next job with the same file and provider. */
let warm: { key: string; upscaler: Upscaler } | undefined;

async function upscalerFor(file: string, ep: UpscaleJob['ep']): Promise<{ upscaler: Upscaler; provider: string; note?: string }> {
  const chosen = await providerOrCpu(ep);
  const key = JSON.stringify([file, chosen.provider]);
  if (warm?.key !== key) {
    let model;
    try {
      model = openUpscaler(file);
    } catch (e) {
      if (e instanceof UpscalerFormatError || e instanceof TensorFileError) throw new BadRequestError(`--upscaler ${e.message}`);
      throw e;
    }
    await warm?.upscaler.release();
    warm = { key, upscaler: new Upscaler(model, chosen.provider === 'cpu' ? ['cpu'] : [chosen.provider, 'cpu']) };
  }
  return { upscaler: warm.upscaler, provider: chosen.provider, note: chosen.note };
}

/** An image file as [1, 3, H, W] in [0, 1] (alpha dropped). */
export async function readImage(path: string): Promise<Nchw> {
  let raw;
  try {
    raw = await sharp(path).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new BadRequestError(`${path}: cannot read as an image (${(e as Error).message})`);
  }
  const { width, height } = raw.info;
  const plane = width * height;
  const data = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) data[c * plane + p] = raw.data[p * 3 + c] / 255;
  return { data, dims: [1, 3, height, width] };
}

/** [1, 3, H, W] → interleaved 8-bit RGB, clamped to [0, 1]. */
function toRgb8(x: Nchw): { width: number; height: number; pixels: Uint8Array } {
  const [, , height, width] = x.dims;
  const plane = width * height;
  const pixels = new Uint8Array(3 * plane);
  for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) pixels[p * 3 + c] = Math.round(Math.min(1, Math.max(0, x.data[c * plane + p])) * 255);
  return { width, height, pixels };
}

export async function runUpscale(job: UpscaleJob, o: Pick<UpscaleOptions, 'signal' | 'progress'> = {}): Promise<UpscaleResult> {
  const { upscaler, provider, note } = await upscalerFor(job.upscaler.file, job.ep);
  const input = await readImage(job.image);
  const [, , height, width] = input.dims;
  const options = { tile: job.tile, overlap: job.overlap, ...o };
  let image = toRgb8(await upscaler.upscale(input, options));
  const scale = job.scale ?? upscaler.scale;
  const notes = note ? [note] : [];
  if (scale !== upscaler.scale) {
    const [w, h] = [Math.round(width * scale), Math.round(height * scale)];
    const resized = await sharp(image.pixels, { raw: { width: image.width, height: image.height, channels: 3 } }).resize(w, h, { fit: 'fill', kernel: 'lanczos3' }).raw().toBuffer();
    image = { width: w, height: h, pixels: new Uint8Array(resized) };
    notes.push(`${upscaler.model.name} enlarges ×${upscaler.scale}; its output was resized to ×${scale} (Lanczos)`);
  }
  const { architecture, name } = upscaler.model;
  return {
    image,
    upscaler: { name, architecture: architecture.kind === 'rrdb' ? 'RRDBNet (ESRGAN)' : 'SRVGG (Real-ESRGAN compact)', scale: architecture.scale },
    scale,
    tiles: upscaler.tileCount(height, width, options),
    ep: provider,
    ...(notes.length ? { notes } : {}),
  };
}
