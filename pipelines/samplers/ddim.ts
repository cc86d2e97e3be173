// DDIM (Song et al. 2021), deterministic (eta = 0), as diffusers' DDIMScheduler.

import { DDPM_DEFAULTS, resolveConfig, type SchedulerConfig } from './config.ts';
import { callModel, clamp, lincomb } from './latents.ts';
import { sigmaOfAlphaCumprod, vpEps, vpX0 } from './prediction.ts';
import { timestepAddNoise, timestepPlan, timestepWalk } from './timestep-plan.ts';
import type { SampleArgs, SamplingPlan } from './types.ts';
import { defineSampler } from './define.ts';

const NAME = 'ddim';

function resolve(config: SchedulerConfig) {
  return resolveConfig(NAME, config, {
    ...DDPM_DEFAULTS,
    timestep_spacing: 'leading',
    set_alpha_to_one: true,
    clip_sample: true,
    clip_sample_range: 1,
  }, { unsupported: { thresholding: false }, predictionTypes: ['epsilon', 'v_prediction', 'sample'] });
}

function plan(config: SchedulerConfig, steps: number): SamplingPlan {
  return timestepPlan(NAME, resolve(config), steps);
}

async function sample(args: SampleArgs): Promise<Float32Array> {
  const c = resolve(args.config);
  const { timesteps } = plan(c, args.steps);
  const { ac, finalAlpha, stride, start } = timestepWalk(NAME, c, args, timesteps.length);
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

export const ddim = defineSampler(NAME, {
  plan, sample,
  addNoise: (config, p, start, x0, noise) => timestepAddNoise(NAME, resolve(config), p, start, x0, noise),
});
