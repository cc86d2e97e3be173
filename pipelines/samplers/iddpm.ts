// The sampler of DiT and DiCo (their `diffusion/` package, from improved-diffusion): a 1000-step DDPM with
// a linear β schedule, respaced to fewer steps, sampled ancestrally with the model's learned variance.
// Tables are float64 as the reference's numpy; per-step arithmetic is float32 as its torch tensors.
import { linspace, roundHalfEven } from './numpy-compat.ts';

const f32 = Math.fround;

export const TRAIN_STEPS = 1000;

/** get_named_beta_schedule('linear', n): np.linspace(scale·1e-4, scale·0.02, n), scale = 1000 / n. */
export function linearBetas(n = TRAIN_STEPS): Float64Array {
  const scale = 1000 / n;
  return Float64Array.from(linspace(scale * 0.0001, scale * 0.02, n));
}

/**
 * space_timesteps: the training timesteps kept when sampling with `sections` steps (e.g. [250], or
 * [10, 15, 20] for that many steps in each third of the schedule), sorted ascending. Python's round()
 * rounds halves to even, which decides some of the kept steps.
 */
export function spaceTimesteps(numTimesteps: number, sections: readonly number[]): number[] {
  if (sections.length === 0 || sections.some((c) => !Number.isInteger(c) || c < 1)) {
    throw new RangeError(`step counts ${JSON.stringify(sections)}: each section needs a whole number of steps >= 1`);
  }
  const sizePer = Math.floor(numTimesteps / sections.length);
  const extra = numTimesteps % sections.length;
  const steps = new Set<number>();
  let start = 0;
  sections.forEach((count, i) => {
    const size = sizePer + (i < extra ? 1 : 0);
    if (size < count) throw new RangeError(`cannot take ${count} steps from a section of ${size} timesteps`);
    const stride = count <= 1 ? 1 : (size - 1) / (count - 1);
    let cur = 0;
    for (let k = 0; k < count; k++) {
      steps.add(start + roundHalfEven(cur));
      cur += stride;
    }
    start += size;
  });
  return [...steps].sort((a, b) => a - b);
}

/** Per spaced step i: the original timestep the model sees, and the float32 coefficients p_sample uses. */
export interface SpacedSchedule {
  timestepMap: number[];
  /** √(1/ᾱ), √(1/ᾱ − 1): x₀ from ε. */
  sqrtRecipAlphasCumprod: Float32Array;
  sqrtRecipm1AlphasCumprod: Float32Array;
  /** Posterior mean coefficients of x₀ and x_t. */
  posteriorMeanCoef1: Float32Array;
  posteriorMeanCoef2: Float32Array;
  /** log β̃ (clipped: step 0 borrows step 1's value) and log β: the two ends of the learned range. */
  posteriorLogVarianceClipped: Float32Array;
  logBetas: Float32Array;
  /** FIXED_LARGE log variance, for models trained without a learned variance. */
  fixedLargeLogVariance: Float32Array;
}

/** SpacedDiffusion + GaussianDiffusion.__init__ for the kept timesteps of the base betas. */
export function spacedSchedule(baseBetas: Float64Array, keep: readonly number[]): SpacedSchedule {
  if (keep.length < 2) throw new RangeError('the learned-variance sampler needs at least 2 steps (its clipped posterior variance is undefined for 1)');
  const kept = new Set(keep);
  const betas: number[] = [];
  const timestepMap: number[] = [];
  let cumprod = 1;
  let last = 1;
  baseBetas.forEach((beta, t) => {
    cumprod *= 1 - beta;
    if (!kept.has(t)) return;
    betas.push(1 - cumprod / last);
    last = cumprod;
    timestepMap.push(t);
  });
  const n = betas.length;
  const ac = new Float64Array(n);
  let prod = 1;
  for (let i = 0; i < n; i++) ac[i] = prod *= 1 - betas[i];
  const acPrev = (i: number) => (i === 0 ? 1 : ac[i - 1]);
  const posteriorVariance = betas.map((b, i) => (b * (1 - acPrev(i))) / (1 - ac[i]));
  const table = (fn: (i: number) => number) => Float32Array.from({ length: n }, (_, i) => fn(i));
  return {
    timestepMap,
    sqrtRecipAlphasCumprod: table((i) => Math.sqrt(1 / ac[i])),
    sqrtRecipm1AlphasCumprod: table((i) => Math.sqrt(1 / ac[i] - 1)),
    posteriorMeanCoef1: table((i) => (betas[i] * Math.sqrt(acPrev(i))) / (1 - ac[i])),
    posteriorMeanCoef2: table((i) => ((1 - acPrev(i)) * Math.sqrt(1 - betas[i])) / (1 - ac[i])),
    posteriorLogVarianceClipped: table((i) => Math.log(posteriorVariance[i === 0 ? 1 : i])),
    logBetas: table((i) => Math.log(betas[i])),
    fixedLargeLogVariance: table((i) => Math.log(i === 0 ? posteriorVariance[1] : betas[i])),
  };
}

export interface StepInput {
  images: number;
  /** x_t, [n, C, H, W]. */
  x: Float32Array;
  /** Model output for the same n images, [n, outChannels, H, W]: ε in channels 0..C-1, then (learned) variance values. */
  modelOut: Float32Array;
  outChannels: number;
  channels: number;
  /** N(0, 1) noise for the n images, [n, C, H, W]; unused at step 0. */
  noise: Float32Array;
}

/**
 * p_sample at spaced step i: x₀ = √(1/ᾱ)·x − √(1/ᾱ−1)·ε, μ = c₁·x₀ + c₂·x, and
 * log σ² = f·log β + (1−f)·log β̃ with f = (v+1)/2 (LEARNED_RANGE; FIXED_LARGE without variance channels);
 * returns μ + σ·noise (no noise at i = 0). clip_denoised is off, as in DiT's sampling scripts.
 */
export function pSample(s: SpacedSchedule, i: number, o: StepInput): Float32Array {
  const { images: n, x, modelOut, outChannels, channels, noise } = o;
  const learned = outChannels === 2 * channels;
  if (!learned && outChannels !== channels) throw new RangeError(`model outputs ${outChannels} channels for ${channels} latent channels: expected ${channels} or ${2 * channels}`);
  const plane = x.length / (n * channels);
  if (!Number.isInteger(plane) || modelOut.length < n * outChannels * plane || noise.length < x.length) throw new RangeError('pSample: x, model output and noise sizes do not agree');
  const a = s.sqrtRecipAlphasCumprod[i];
  const b = s.sqrtRecipm1AlphasCumprod[i];
  const c1 = s.posteriorMeanCoef1[i];
  const c2 = s.posteriorMeanCoef2[i];
  const minLog = s.posteriorLogVarianceClipped[i];
  const maxLog = s.logBetas[i];
  const fixedLog = s.fixedLargeLogVariance[i];
  const mask = i === 0 ? 0 : 1;
  const out = new Float32Array(x.length);
  for (let img = 0; img < n; img++) {
    for (let c = 0; c < channels; c++) {
      const xAt = (img * channels + c) * plane;
      const epsAt = (img * outChannels + c) * plane;
      const varAt = (img * outChannels + channels + c) * plane;
      for (let p = 0; p < plane; p++) {
        const xt = x[xAt + p];
        let logVar = fixedLog;
        if (learned) {
          const frac = f32(f32(modelOut[varAt + p] + 1) / 2);
          logVar = f32(f32(frac * maxLog) + f32(f32(1 - frac) * minLog));
        }
        const x0 = f32(f32(a * xt) - f32(b * modelOut[epsAt + p]));
        const mean = f32(f32(c1 * x0) + f32(c2 * xt));
        const sigma = f32(Math.exp(f32(0.5 * logVar)));
        out[xAt + p] = f32(mean + f32(f32(mask * sigma) * noise[xAt + p]));
      }
    }
  }
  return out;
}
