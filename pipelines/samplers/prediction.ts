// Conversions between what a model predicts (prediction_type) and the clean-sample estimate x0 or
// the noise eps that the samplers work with, on the two parameterisations diffusers uses.

import type { PredictionType } from './config.ts';
import { lincomb } from './latents.ts';

/**
 * x0 from a model output on the variance-preserving chain x = alpha*x0 + sigma*eps
 * (alpha = sqrt(ᾱ), sigma = sqrt(1-ᾱ)).
 */
export function vpX0(type: PredictionType, x: Float32Array, out: Float32Array, alpha: number, sigma: number): Float32Array {
  switch (type) {
    case 'epsilon':
      return lincomb([1 / alpha, x], [-sigma / alpha, out]);
    case 'v_prediction':
      return lincomb([alpha, x], [-sigma, out]);
    case 'sample':
      return out;
    default:
      throw new Error(`prediction_type ${type} does not apply to a variance-preserving sampler`);
  }
}

/** eps from a model output on the variance-preserving chain (see vpX0). */
export function vpEps(type: PredictionType, x: Float32Array, out: Float32Array, alpha: number, sigma: number): Float32Array {
  switch (type) {
    case 'epsilon':
      return out;
    case 'v_prediction':
      return lincomb([alpha, out], [sigma, x]);
    case 'sample':
      return lincomb([1 / sigma, x], [-alpha / sigma, out]);
    default:
      throw new Error(`prediction_type ${type} does not apply to a variance-preserving sampler`);
  }
}

/**
 * x0 on the k-diffusion chain x = x0 + s*eps, where the model saw x / sqrt(s²+1)
 * (so v-prediction is expressed in the scaled variables).
 */
export function karrasX0(type: PredictionType, x: Float32Array, out: Float32Array, s: number): Float32Array {
  switch (type) {
    case 'epsilon':
      return lincomb([1, x], [-s, out]);
    case 'v_prediction':
      return lincomb([1 / (s * s + 1), x], [-s / Math.sqrt(s * s + 1), out]);
    case 'sample':
      return out;
    default:
      throw new Error(`prediction_type ${type} does not apply to a sigma-based sampler`);
  }
}

/** The k-diffusion noise level of ᾱ: sqrt((1-ᾱ)/ᾱ). */
export function sigmaOfAlphaCumprod(alphaCumprod: number): number {
  return Math.sqrt((1 - alphaCumprod) / alphaCumprod);
}

/** The variance-preserving alpha, sigma and log-SNR lambda of a k-diffusion sigma. */
export function vpOfSigma(s: number): { alpha: number; sigma: number; lambda: number } {
  const alpha = 1 / Math.sqrt(s * s + 1);
  const sigma = s * alpha;
  return { alpha, sigma, lambda: Math.log(alpha) - Math.log(sigma) };
}

/** Noises x0 to a training step of a variance-preserving schedule: sqrt(ᾱ)·x0 + sqrt(1-ᾱ)·noise. */
export function vpAddNoise(alphaCumprod: number, x0: Float32Array, noise: Float32Array): Float32Array {
  return lincomb([Math.sqrt(alphaCumprod), x0], [Math.sqrt(1 - alphaCumprod), noise]);
}
