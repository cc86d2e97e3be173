// Heun's method (Karras et al. 2022, Algorithm 1 without churn), as diffusers' HeunDiscreteScheduler:
// every step but the last takes an Euler step, evaluates the model at its end and averages the two
// slopes. The last step (to sigma 0) is a plain Euler step. Each model call is one scheduler step,
// so a plan has 2n-1 timesteps (order 2).

import { resolveConfig, type SchedulerConfig } from './config.ts';
import { callModel, clamp, lincomb } from './latents.ts';
import { karrasX0 } from './prediction.ts';
import { runStart } from './run-checks.ts';
import { scaleModelInput, sigmaAddNoise, sigmaPlan } from './sigma-plan.ts';
import type { SampleArgs, SamplingPlan } from './types.ts';
import { defineSampler } from './define.ts';

const NAME = 'heun';

function resolve(config: SchedulerConfig) {
  return resolveConfig(NAME, { ...config, rescale_betas_zero_snr: false }, {
    num_train_timesteps: 1000,
    beta_start: 0.00085,
    beta_end: 0.012,
    beta_schedule: 'linear',
    prediction_type: 'epsilon',
    timestep_spacing: 'linspace',
    steps_offset: 0,
    use_karras_sigmas: false,
    clip_sample: false,
    clip_sample_range: 1,
  }, {
    unsupported: { use_exponential_sigmas: false, use_beta_sigmas: false },
    predictionTypes: ['epsilon', 'v_prediction', 'sample'],
  });
}

/** Diffusers' layout: sigmas [s0, s1, s1, ..., s(n-1), s(n-1), 0], timesteps [t0, t1, t1, ...]. */
function plan(config: SchedulerConfig, steps: number): SamplingPlan & { sigmas: number[] } {
  const c = resolve(config);
  const base = sigmaPlan(NAME, c, steps, { karras: c.use_karras_sigmas });
  const inner = base.sigmas.slice(1, -1);
  return {
    timesteps: [base.timesteps[0], ...base.timesteps.slice(1).flatMap((t) => [t, t])],
    sigmas: [base.sigmas[0], ...inner.flatMap((s) => [s, s]), base.sigmas[base.sigmas.length - 1]],
    initNoiseSigma: base.initNoiseSigma,
    order: 2,
  };
}

async function sample(args: SampleArgs): Promise<Float32Array> {
  const c = resolve(args.config);
  const p = plan(c, args.steps);
  const start = runStart(NAME, args, p.timesteps.length, 2);
  let x = args.x;
  // State between the Euler half and the correction: the step's start point and first slope.
  let pending: { x: Float32Array; slope: Float32Array; dt: number } | undefined;
  for (let i = start; i < p.timesteps.length; i++) {
    const sigma = p.sigmas[i];
    const out = await callModel(args.model, scaleModelInput(x, sigma), p.timesteps[i], sigma);
    const x0Raw = karrasX0(c.prediction_type, x, out, sigma);
    const x0 = c.clip_sample ? clamp(x0Raw, c.clip_sample_range) : x0Raw;
    const slope = lincomb([1 / sigma, x], [-1 / sigma, x0]);
    if (!pending) {
      const dt = p.sigmas[i + 1] - sigma;
      pending = { x, slope, dt };
      x = lincomb([1, x], [dt, slope]);
    } else {
      x = lincomb([1, pending.x], [pending.dt / 2, pending.slope], [pending.dt / 2, slope]);
      pending = undefined;
    }
    await args.onStep?.(i - start, x, p.timesteps.length - start);
  }
  return x;
}

export const heun = defineSampler(NAME, {
  plan, sample,
  addNoise: (config, p, start, x0, noise) => sigmaAddNoise(NAME, p, start, x0, noise),
});
