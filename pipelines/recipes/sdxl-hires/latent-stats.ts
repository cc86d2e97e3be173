// The per-image, per-channel statistics LinFusion's SDXL pipelines move latents by: torch's mean and
// unbiased std over (H, W), and the renormalisation `(x − mean_x) / std_x · std + mean` (the blurred
// latent to the latent's statistics every step, each stage's result to the base image's "anchor").
import type { LatentShape } from '../sd/pipeline.ts';

export interface ChannelStats {
  /** One value per image and channel, [images · channels]. */
  mean: Float64Array;
  std: Float64Array;
}

const planes = (l: LatentShape) => ({ count: l.images * l.channels, size: l.height * l.width });

export function channelStats(x: Float32Array, l: LatentShape): ChannelStats {
  const { count, size } = planes(l);
  const mean = new Float64Array(count);
  const std = new Float64Array(count);
  for (let p = 0; p < count; p++) {
    const plane = x.subarray(p * size, (p + 1) * size);
    let sum = 0;
    for (const v of plane) sum += v;
    const m = sum / size;
    let squares = 0;
    for (const v of plane) squares += (v - m) * (v - m);
    mean[p] = m;
    std[p] = Math.sqrt(squares / (size - 1));
  }
  return { mean, std };
}

/** `x` moved to the statistics `to`, plane by plane. */
export function renormalise(x: Float32Array, l: LatentShape, to: ChannelStats): Float32Array {
  const { count, size } = planes(l);
  if (to.mean.length !== count) throw new RangeError(`statistics of ${to.mean.length} planes given for ${count} latent planes`);
  const from = channelStats(x, l);
  const out = new Float32Array(x.length);
  for (let p = 0; p < count; p++) {
    const k = to.std[p] / from.std[p];
    for (let i = p * size; i < (p + 1) * size; i++) out[i] = (x[i] - from.mean[p]) * k + to.mean[p];
  }
  return out;
}
