// The sizes LinFusion's SDXL pipelines work at. HighRes: a base whose long side is the model's native size
// (the UNet config's sample_size latents), doubled `scales` times, scales = ceil(log2(long side / native)).
// SuperRes: the dilation of a stage is ceil(long side / native) and must be above 1.
const LATENT = 8;

export interface HighresSizes {
  base: { width: number; height: number };
  scales: number;
  /** What the reference makes for the request: base · 2^scales. */
  actual: { width: number; height: number };
}

/** HighRes's base and scale count for a requested size, as the reference computes them. */
export function highresSizes(width: number, height: number, nativeLatent: number): HighresSizes {
  const [sampleW, sampleH] = [Math.ceil(width / LATENT), Math.ceil(height / LATENT)];
  const long = Math.max(sampleW, sampleH);
  const scales = Math.ceil(Math.log2(long / nativeLatent));
  const base = { width: Math.ceil((nativeLatent * sampleW) / long) * LATENT, height: Math.ceil((nativeLatent * sampleH) / long) * LATENT };
  return { base, scales, actual: { width: base.width * 2 ** scales, height: base.height * 2 ** scales } };
}

/**
 * The request's HighRes sizes, or a sentence saying why it is not one HighRes makes and which are: the final
 * size must be the base (long side native) doubled 1 or more times and a multiple of 64 on both sides.
 */
export function checkHighresSize(width: number, height: number, nativeLatent: number): HighresSizes | string {
  const native = nativeLatent * LATENT;
  const sizes = highresSizes(width, height, nativeLatent);
  const fits = (s: HighresSizes) => s.scales >= 1 && s.actual.width % 64 === 0 && s.actual.height % 64 === 0;
  if (fits(sizes) && sizes.actual.width === width && sizes.actual.height === height) return sizes;
  const options = [1, 2, 3, 4, 5]
    .map((k) => highresSizes(Math.round((width / Math.max(width, height)) * native * 2 ** k), Math.round((height / Math.max(width, height)) * native * 2 ** k), nativeLatent))
    .filter(fits)
    .map((s) => ({ s, distance: Math.abs(Math.log2(Math.max(s.actual.width, s.actual.height) / Math.max(width, height))) }))
    .sort((a, b) => a.distance - b.distance)
    .slice(0, 2)
    .sort((a, b) => a.s.scales - b.s.scales)
    .map(({ s }) => `${s.actual.width}x${s.actual.height}`);
  const why = sizes.scales < 1 ? `is not above this model's native ${native} px` : `is not a base with long side ${native} doubled per scale, with both sides multiples of 64`;
  return `--hires ${width}x${height} ${why} (LinFusion's HighRes)${options.length ? `: nearest sizes of this shape ${options.join(' or ')}` : ''}`;
}

/** SuperRes's dilation for an output size: ceil(long side / native), which the reference requires above 1. */
export function superresDilation(width: number, height: number, nativeLatent: number): number | string {
  const native = nativeLatent * LATENT;
  const dilation = Math.ceil(Math.max(width, height) / native);
  return dilation > 1 ? dilation : `SuperRes to ${width}x${height} needs a long side above this model's native ${native} px: upscale by more`;
}
