// DDIM (Song et al. 2021), deterministic (eta = 0), as diffusers' DDIMScheduler.

import { checkSteps, resolveConfig, type SchedulerConfig } from './config.ts';
import { alphasCumprod, spacedTimesteps } from './schedule.ts';
import { callModel, clamp, lincomb } from './latents.ts';
import { sigmaOfAlphaCumprod, vpAddNoise, vpEps, vpX0 } from './prediction.ts';
import { checkStartIndex, runStart } from './run-checks.ts';
import type { SampleArgs, Sampler, SamplingPlan } from './types.ts';

const NAME = 'ddim';

function resolve(config: SchedulerConfig) {
  return resolveConfig(NAME, config, {
    num_train_timesteps: 1000,
    beta_start: 0.0001,
    beta_end: 0.02,
    beta_schedule: 'linear',
    prediction_type: 'epsilon',
    timestep_spacing: 'leading',
    steps_offset: 0,
    set_alpha_to_one: true,
    clip_sample: true,
    clip_sample_range: 1,
  }, { unsupported: { thresholding: false }, predictionTypes: ['epsilon', 'v_prediction', 'sample'] });
}

function plan(config: SchedulerConfig, steps: number): SamplingPlan {
  const c = resolve(config);
  checkSteps(NAME, steps, c.num_train_timesteps);
  return {
    timesteps: spacedTimesteps(c.timestep_spacing, c.num_train_timesteps, steps, c.steps_offset),
    sigmas: null,
    initNoiseSigma: 1,
    order: 1,
  };
}

async function sample(args: SampleArgs): Promise<Float32Array> {
  const c = resolve(args.config);
  const { timesteps } = plan(c, args.steps);
  const ac = alphasCumprod(c);
  const finalAlpha = c.set_alpha_to_one ? 1 : ac[0];
  // Diffusers steps back by a fixed stride, whatever the spacing.
  const stride = Math.floor(c.num_train_timesteps / args.steps);
  const start = runStart(NAME, args, timesteps.length);
  let x = args.x;
  for (let i = start; i < timesteps.length; i++) {
    const t = timesteps[i];
    const a = ac[t];
    const prev = t - stride;
    const aPrev = prev >= 0 ? ac[prev] : finalAlpha;
    const out = await callModel(args.model, x, t, sigmaOfAlphaCumprod(a));
    let x0 = vpX0(c.prediction_type, x, out, Math.sqrt(a), Math.sqrt(1 - a));
    if (c.clip_sample) x0 = clamp(x0, c.clip_sample_range);
    const eps = vpEps(c.prediction_type, x, out, Math.sqrt(a), Math.sqrt(1 - a));
    x = lincomb([Math.sqrt(aPrev), x0], [Math.sqrt(1 - aPrev), eps]);
    await args.onStep?.(i - start, x, timesteps.length - start);
  }
  return x;
}

export const ddim: Sampler = {
  name: NAME,
  stochastic: false,
  plan,
  sample,
  addNoise(config, steps, startIndex, x0, noise) {
    const c = resolve(config);
    const { timesteps } = plan(c, steps);
    return vpAddNoise(alphasCumprod(c)[timesteps[checkStartIndex(NAME, startIndex, timesteps.length)]], x0, noise);
  },
};
