// Plans of the samplers that step over integer training timesteps (DDIM, DDPM, PNDM): diffusers'
// spaced timesteps, no sigma list, unit initial noise, and img2img noising on the training schedule.

import { checkSteps, type ResolvedConfig } from './config.ts';
import { alphasCumprod, spacedTimesteps } from './schedule.ts';
import { vpAddNoise } from './prediction.ts';
import { checkStartIndex } from './run-checks.ts';
import { runStart } from './run-checks.ts';
import type { SampleArgs, SamplingPlan } from './types.ts';

export type TimestepPlanConfig = ResolvedConfig<
  'num_train_timesteps' | 'beta_start' | 'beta_end' | 'beta_schedule' | 'timestep_spacing' | 'steps_offset'
>;

export function timestepPlan(name: string, c: TimestepPlanConfig, steps: number): SamplingPlan {
  checkSteps(name, steps, c.num_train_timesteps);
  return {
    timesteps: spacedTimesteps(c.timestep_spacing, c.num_train_timesteps, steps, c.steps_offset),
    sigmas: null,
    initNoiseSigma: 1,
    order: 1,
  };
}

/** Noises x0 to plan.timesteps[startIndex]: sqrt(ᾱ)·x0 + sqrt(1-ᾱ)·noise at that training step. */
export function timestepAddNoise(name: string, c: TimestepPlanConfig, plan: SamplingPlan, startIndex: number, x0: Float32Array, noise: Float32Array): Float32Array {
  const t = plan.timesteps[checkStartIndex(name, startIndex, plan.timesteps.length)];
  return vpAddNoise(alphasCumprod(c)[t], x0, noise);
}

/** What DDIM and PNDM step with: ᾱ per training step, ᾱ past the last step, diffusers' fixed stride, the first index. */
export interface TimestepWalk {
  ac: Float64Array;
  finalAlpha: number;
  /** Diffusers steps back by a fixed stride, whatever the spacing. */
  stride: number;
  start: number;
}

export function timestepWalk(name: string, c: TimestepPlanConfig & { set_alpha_to_one: boolean }, args: SampleArgs, count: number): TimestepWalk {
  const ac = alphasCumprod(c);
  return {
    ac,
    finalAlpha: c.set_alpha_to_one ? 1 : ac[0],
    stride: Math.floor(c.num_train_timesteps / args.steps),
    start: runStart(name, args, count),
  };
}
