// DDPM ancestral sampling (Ho et al. 2020) over spaced timesteps, as diffusers' DDPMScheduler:
// the posterior mean of x_prev given x_t and the predicted x0, plus fresh noise of the posterior
// variance on every step except at t = 0.

import { DDPM_DEFAULTS, resolveConfig, SchedulerConfigError, type SchedulerConfig } from './config.ts';
import { alphasCumprod } from './schedule.ts';
import { callModel, clamp, lincomb } from './latents.ts';
import { sigmaOfAlphaCumprod, vpX0 } from './prediction.ts';
import { requireGenerator, runStart } from './run-checks.ts';
import { timestepAddNoise, timestepPlan } from './timestep-plan.ts';
import type { SampleArgs, SamplingPlan } from './types.ts';
import { defineSampler } from './define.ts';

const NAME = 'ddpm';

function resolve(config: SchedulerConfig) {
  const c = resolveConfig(NAME, config, {
    ...DDPM_DEFAULTS,
    timestep_spacing: 'leading',
    clip_sample: true,
    clip_sample_range: 1,
    variance_type: 'fixed_small',
  }, { unsupported: { thresholding: false }, predictionTypes: ['epsilon', 'v_prediction', 'sample'] });
  if (!['fixed_small', 'fixed_small_log', 'fixed_large'].includes(c.variance_type as string)) {
    throw new SchedulerConfigError(NAME, `variance_type ${String(c.variance_type)} is not supported (fixed_small, fixed_small_log or fixed_large)`);
  }
  return c;
}

function plan(config: SchedulerConfig, steps: number): SamplingPlan {
  return timestepPlan(NAME, resolve(config), steps);
}

async function sample(args: SampleArgs): Promise<Float32Array> {
  const generator = requireGenerator(NAME, args);
  const c = resolve(args.config);
  const { timesteps } = plan(c, args.steps);
  const ac = alphasCumprod(c);
  const start = runStart(NAME, args, timesteps.length);
  let x = args.x;
  for (let i = start; i < timesteps.length; i++) {
    const t = timesteps[i];
    const a = ac[t];
    const aPrev = i + 1 < timesteps.length ? ac[timesteps[i + 1]] : 1;
    const alphaStep = a / aPrev;
    const betaStep = 1 - alphaStep;
    const out = await callModel(args.model, x, t, sigmaOfAlphaCumprod(a));
    let x0 = vpX0(c.prediction_type, x, out, Math.sqrt(a), Math.sqrt(1 - a));
    if (c.clip_sample) x0 = clamp(x0, c.clip_sample_range);
    const terms: Array<readonly [number, Float32Array]> = [
      [(Math.sqrt(aPrev) * betaStep) / (1 - a), x0],
      [(Math.sqrt(alphaStep) * (1 - aPrev)) / (1 - a), x],
    ];
    if (t > 0) {
      const variance = c.variance_type === 'fixed_large' ? betaStep : Math.max(((1 - aPrev) / (1 - a)) * betaStep, 1e-20);
      terms.push([Math.sqrt(variance), generator.randn([x.length])]);
    }
    x = lincomb(...terms);
    await args.onStep?.(i - start, x, timesteps.length - start);
  }
  return x;
}

export const ddpm = defineSampler(NAME, {
  stochastic: true, plan, sample,
  addNoise: (config, p, start, x0, noise) => timestepAddNoise(NAME, resolve(config), p, start, x0, noise),
});
