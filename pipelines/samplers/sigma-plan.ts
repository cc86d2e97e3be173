// Timesteps and sigmas of the k-diffusion style samplers (Euler, Euler ancestral, Heun, LMS), as
// their diffusers schedulers compute them: training sigmas interpolated at the spaced timesteps,
// optionally respaced by Karras' rule over that range, then a final sigma appended.

import { checkSteps, type ResolvedConfig } from './config.ts';
import { alphasCumprod, karrasSigmas, logSigmasF32, sigmaToTimestep, spacedTimesteps, trainingSigmas } from './schedule.ts';
import { interpIndex } from './numpy-compat.ts';
import { lincomb } from './latents.ts';
import { checkStartIndex } from './run-checks.ts';
import type { SamplingPlan } from './types.ts';

const f32 = Math.fround;

export type SigmaPlanConfig = ResolvedConfig<
  'num_train_timesteps' | 'beta_start' | 'beta_end' | 'beta_schedule' | 'prediction_type' | 'timestep_spacing' | 'steps_offset'
>;

/** Plan with `sigmas` one longer than `timesteps`: sigmas[i] is the noise level at timesteps[i]. */
export function sigmaPlan(
  name: string,
  c: SigmaPlanConfig,
  steps: number,
  { karras = false, finalSigmaMin = false } = {},
): SamplingPlan & { sigmas: number[] } {
  checkSteps(name, steps, c.num_train_timesteps);
  const ac = alphasCumprod(c, true);
  const train = trainingSigmas(ac);
  let timesteps = spacedTimesteps(c.timestep_spacing, c.num_train_timesteps, steps, c.steps_offset, { roundLinspace: false });
  let sigmas = timesteps.map((t) => interpIndex(t, train));
  if (karras) {
    sigmas = karrasSigmas(sigmas[sigmas.length - 1], sigmas[0], steps);
    const logSigmas = logSigmasF32(train);
    timesteps = sigmas.map((s) => sigmaToTimestep(s, logSigmas));
  }
  sigmas.push(finalSigmaMin ? train[0] : 0);
  const maxSigma = f32(Math.max(...sigmas.map(f32)));
  const initNoiseSigma = c.timestep_spacing === 'leading' ? f32(Math.sqrt(f32(f32(maxSigma * maxSigma) + 1))) : maxSigma;
  return { timesteps: timesteps.map(f32), sigmas: sigmas.map(f32), initNoiseSigma, order: 1 };
}

/** Model input at noise level sigma: x / sqrt(sigma² + 1) (diffusers' scale_model_input). */
export function scaleModelInput(x: Float32Array, sigma: number): Float32Array {
  return lincomb([1 / f32(Math.sqrt(f32(f32(sigma * sigma) + 1))), x]);
}

/** Noises x0 to plan position `startIndex`: x0 + sigma * noise. */
export function sigmaAddNoise(name: string, plan: SamplingPlan & { sigmas: number[] }, startIndex: number, x0: Float32Array, noise: Float32Array): Float32Array {
  checkStartIndex(name, startIndex, plan.timesteps.length, plan.order);
  return lincomb([1, x0], [plan.sigmas[startIndex], noise]);
}
