// Timesteps and sigmas of the exponential-integrator multistep solvers (DPM-Solver++, UniPC), as
// diffusers' DPMSolverMultistepScheduler and UniPCMultistepScheduler compute them. Unlike the Euler
// family, their Karras sigmas span the whole training range and are mapped back to integer timesteps.

import { checkSteps, DDPM_DEFAULTS, type ResolvedConfig } from './config.ts';
import { alphasCumprod, karrasSigmas, logSigmasF32, sigmaToTimestep, spacedTimesteps, trainingSigmas } from './schedule.ts';
import { roundHalfEven } from './numpy-compat.ts';
import { lincomb } from './latents.ts';
import { vpOfSigma } from './prediction.ts';
import { checkStartIndex } from './run-checks.ts';
import type { SamplingPlan } from './types.ts';

const f32 = Math.fround;

/** Defaults both solvers share with diffusers (each adds its own solver keys). */
export const MULTISTEP_DEFAULTS = {
  ...DDPM_DEFAULTS,
  timestep_spacing: 'linspace',
  solver_order: 2,
  lower_order_final: true,
  use_karras_sigmas: false,
  final_sigmas_type: 'zero',
} as const;

/** Options both solvers refuse unless they hold these values. */
export const MULTISTEP_UNSUPPORTED = {
  thresholding: false,
  use_exponential_sigmas: false,
  use_beta_sigmas: false,
  use_flow_sigmas: false,
  use_dynamic_shifting: false,
} as const;

export type MultistepPlanConfig = ResolvedConfig<
  'num_train_timesteps' | 'beta_start' | 'beta_end' | 'beta_schedule' | 'timestep_spacing' | 'steps_offset' | 'use_karras_sigmas' | 'final_sigmas_type'
>;

export function multistepPlan(name: string, c: MultistepPlanConfig, steps: number, { roundKarras = true } = {}): SamplingPlan & { sigmas: number[] } {
  checkSteps(name, steps, c.num_train_timesteps);
  const train = trainingSigmas(alphasCumprod(c, true));
  let timesteps = spacedTimesteps(c.timestep_spacing, c.num_train_timesteps, steps, c.steps_offset, { extraStep: true });
  let sigmas: number[];
  if (c.use_karras_sigmas) {
    sigmas = karrasSigmas(train[0], train[train.length - 1], steps);
    const logSigmas = logSigmasF32(train);
    timesteps = sigmas.map((s) => sigmaToTimestep(s, logSigmas));
    if (roundKarras) timesteps = timesteps.map(roundHalfEven);
  } else {
    sigmas = timesteps.map((t) => train[t]);
  }
  sigmas.push(c.final_sigmas_type === 'sigma_min' ? train[0] : 0);
  return { timesteps, sigmas: sigmas.map(f32), initNoiseSigma: 1, order: 1 };
}

/** Noises x0 to plan position `startIndex`: alpha·x0 + sigma·noise at that step's sigma. */
export function multistepAddNoise(name: string, plan: SamplingPlan & { sigmas: number[] }, startIndex: number, x0: Float32Array, noise: Float32Array): Float32Array {
  checkStartIndex(name, startIndex, plan.timesteps.length);
  const { alpha, sigma } = vpOfSigma(plan.sigmas[startIndex]);
  return lincomb([alpha, x0], [sigma, noise]);
}
