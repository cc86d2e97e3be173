// Where an img2img run starts, as diffusers' img2img pipelines compute it (get_timesteps): of
// `steps` steps, the last floor(steps·strength) are run, i.e. the first ones are skipped. The
// latents then start from sampler.addNoise(config, steps, startIndex, x0, noise).

import type { SchedulerConfig } from './config.ts';
import type { Sampler } from './types.ts';

export function img2imgStartIndex(sampler: Sampler, config: SchedulerConfig, steps: number, strength: number): number {
  if (typeof strength !== 'number' || !(strength >= 0 && strength <= 1)) {
    throw new RangeError(`img2img strength must be a number in [0, 1], got ${strength}`);
  }
  const plan = sampler.plan(config, steps);
  const kept = Math.min(Math.floor(steps * strength), steps);
  const startIndex = (steps - kept) * plan.order;
  if (startIndex >= plan.timesteps.length) {
    throw new RangeError(`img2img strength ${strength} with ${steps} steps runs no step at all; raise the strength or the steps`);
  }
  return startIndex;
}
