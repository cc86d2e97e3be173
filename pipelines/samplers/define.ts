// A sampler from its plan, its loop and how it noises an img2img start, the plan computed once for
// addNoise so each sampler states only what differs.
import type { SchedulerConfig } from './config.ts';
import type { SampleArgs, Sampler, SamplingPlan } from './types.ts';

export interface SamplerParts<P extends SamplingPlan> {
  /** Whether `sample` draws noise and so needs a generator (default false). */
  stochastic?: boolean;
  plan(config: SchedulerConfig, steps: number): P;
  sample(args: SampleArgs): Promise<Float32Array>;
  /** Noises clean latents to the level of `plan.timesteps[startIndex]`. */
  addNoise(config: SchedulerConfig, plan: P, startIndex: number, x0: Float32Array, noise: Float32Array): Float32Array;
}

export function defineSampler<P extends SamplingPlan>(name: string, parts: SamplerParts<P>): Sampler {
  return {
    name,
    stochastic: parts.stochastic ?? false,
    plan: parts.plan,
    sample: parts.sample,
    addNoise: (config, steps, startIndex, x0, noise) => parts.addNoise(config, parts.plan(config, steps), startIndex, x0, noise),
  };
}
