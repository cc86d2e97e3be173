// Euler and Euler ancestral (Karras et al. 2022; k-diffusion's sample_euler / sample_euler_ancestral),
// as diffusers' EulerDiscreteScheduler (s_churn = 0) and EulerAncestralDiscreteScheduler.

import { DDPM_DEFAULTS, resolveConfig, type SchedulerConfig } from './config.ts';
import { callModel, lincomb } from './latents.ts';
import { karrasX0 } from './prediction.ts';
import { requireGenerator, runStart } from './run-checks.ts';
import { scaleModelInput, sigmaAddNoise, sigmaPlan } from './sigma-plan.ts';
import type { SampleArgs, SamplingPlan } from './types.ts';
import { defineSampler } from './define.ts';

const UNSUPPORTED = {
  use_exponential_sigmas: false,
  use_beta_sigmas: false,
  interpolation_type: 'linear',
  timestep_type: 'discrete',
  sigma_min: null,
  sigma_max: null,
};

function resolve(name: string, config: SchedulerConfig) {
  return resolveConfig(name, config, { ...DDPM_DEFAULTS, timestep_spacing: 'linspace', use_karras_sigmas: false, final_sigmas_type: 'zero' }, {
    unsupported: UNSUPPORTED,
    predictionTypes: ['epsilon', 'v_prediction', 'sample'],
  });
}

/** Runs the shared loop; `move` takes x, the x0 estimate and the step index to the next x. */
async function eulerLoop(
  name: string,
  args: SampleArgs,
  plan: SamplingPlan & { sigmas: number[] },
  move: (x: Float32Array, x0: Float32Array, i: number) => Float32Array,
): Promise<Float32Array> {
  const c = resolve(name, args.config);
  const start = runStart(name, args, plan.timesteps.length);
  let x = args.x;
  for (let i = start; i < plan.timesteps.length; i++) {
    const sigma = plan.sigmas[i];
    const out = await callModel(args.model, scaleModelInput(x, sigma), plan.timesteps[i], sigma);
    x = move(x, karrasX0(c.prediction_type, x, out, sigma), i);
    await args.onStep?.(i - start, x, plan.timesteps.length - start);
  }
  return x;
}

/** x moved from noise level `from` to `to` along the straight line through x0. */
function eulerMove(x: Float32Array, x0: Float32Array, from: number, to: number): Float32Array {
  const ratio = (to - from) / from; // dt / sigma; the derivative is (x - x0) / sigma
  return lincomb([1 + ratio, x], [-ratio, x0]);
}

function eulerPlan(config: SchedulerConfig, steps: number) {
  const c = resolve('euler', config);
  return sigmaPlan('euler', c, steps, { karras: c.use_karras_sigmas, finalSigmaMin: c.final_sigmas_type === 'sigma_min' });
}

export const euler = defineSampler('euler', {
  plan: eulerPlan,
  async sample(args) {
    const plan = eulerPlan(args.config, args.steps);
    return eulerLoop('euler', args, plan, (x, x0, i) => eulerMove(x, x0, plan.sigmas[i], plan.sigmas[i + 1]));
  },
  addNoise: (config, p, start, x0, noise) => sigmaAddNoise('euler', p, start, x0, noise),
});

// Diffusers' ancestral scheduler has no Karras or final-sigma options; like its from_config, ignore them.
function ancestralPlan(config: SchedulerConfig, steps: number) {
  return sigmaPlan('euler_a', resolve('euler_a', { ...config, use_karras_sigmas: false, final_sigmas_type: 'zero' }), steps);
}

export const eulerAncestral = defineSampler('euler_a', {
  stochastic: true,
  plan: ancestralPlan,
  async sample(args) {
    const generator = requireGenerator('euler_a', args);
    const plan = ancestralPlan(args.config, args.steps);
    return eulerLoop('euler_a', args, plan, (x, x0, i) => {
      const from = plan.sigmas[i];
      const to = plan.sigmas[i + 1];
      // Split the step into a deterministic move to sigmaDown and fresh noise of size sigmaUp.
      const sigmaUp = Math.sqrt((to * to * (from * from - to * to)) / (from * from));
      const sigmaDown = Math.sqrt(to * to - sigmaUp * sigmaUp);
      const noise = generator.randn([x.length]);
      return lincomb([1, eulerMove(x, x0, from, sigmaDown)], [sigmaUp, noise]);
    });
  },
  addNoise: (config, p, start, x0, noise) => sigmaAddNoise('euler_a', p, start, x0, noise),
});
