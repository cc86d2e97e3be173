// Linear multistep (Adams-Bashforth in sigma, up to order 4; k-diffusion's sample_lms), as
// diffusers' LMSDiscreteScheduler. Its coefficients are integrals of Lagrange basis polynomials
// over [sigma_i, sigma_i+1]; diffusers integrates them with scipy's adaptive quadrature, here a
// 4-point Gauss-Legendre rule does it exactly (the integrands are polynomials of degree <= 3).

import { DDPM_DEFAULTS, resolveConfig, type SchedulerConfig } from './config.ts';
import { callModel, lincomb } from './latents.ts';
import { karrasX0 } from './prediction.ts';
import { runStart } from './run-checks.ts';
import { scaleModelInput, sigmaAddNoise, sigmaPlan } from './sigma-plan.ts';
import type { SampleArgs } from './types.ts';
import { defineSampler } from './define.ts';

const NAME = 'lms';
const MAX_ORDER = 4;

function resolve(config: SchedulerConfig) {
  return resolveConfig(NAME, { ...config, rescale_betas_zero_snr: false }, {
    ...DDPM_DEFAULTS,
    timestep_spacing: 'linspace',
    use_karras_sigmas: false,
  }, {
    unsupported: { use_exponential_sigmas: false, use_beta_sigmas: false },
    predictionTypes: ['epsilon', 'v_prediction', 'sample'],
  });
}

function plan(config: SchedulerConfig, steps: number) {
  const c = resolve(config);
  return sigmaPlan(NAME, c, steps, { karras: c.use_karras_sigmas });
}

// Nodes and weights of Gauss-Legendre quadrature on [-1, 1] (exact for degree <= 7).
const GL_NODES = [-0.8611363115940526, -0.33998104358485626, 0.33998104358485626, 0.8611363115940526];
const GL_WEIGHTS = [0.34785484513745357, 0.6521451548625464, 0.6521451548625464, 0.34785484513745357];

function integrate(f: (x: number) => number, a: number, b: number): number {
  const mid = (a + b) / 2;
  const half = (b - a) / 2;
  let sum = 0;
  for (let k = 0; k < GL_NODES.length; k++) sum += GL_WEIGHTS[k] * f(mid + half * GL_NODES[k]);
  return sum * half;
}

/** Weight of the derivative from `j` steps back in the step from sigmas[i] to sigmas[i+1]. */
export function lmsCoefficient(sigmas: readonly number[], order: number, i: number, j: number): number {
  const basis = (tau: number) => {
    let prod = 1;
    for (let k = 0; k < order; k++) {
      if (k !== j) prod *= (tau - sigmas[i - k]) / (sigmas[i - j] - sigmas[i - k]);
    }
    return prod;
  };
  return integrate(basis, sigmas[i], sigmas[i + 1]);
}

async function sample(args: SampleArgs): Promise<Float32Array> {
  const c = resolve(args.config);
  const p = plan(c, args.steps);
  const start = runStart(NAME, args, p.timesteps.length);
  const slopes: Float32Array[] = []; // newest first
  let x = args.x;
  for (let i = start; i < p.timesteps.length; i++) {
    const sigma = p.sigmas[i];
    const out = await callModel(args.model, scaleModelInput(x, sigma), p.timesteps[i], sigma);
    const x0 = karrasX0(c.prediction_type, x, out, sigma);
    slopes.unshift(lincomb([1 / sigma, x], [-1 / sigma, x0]));
    if (slopes.length > MAX_ORDER) slopes.pop();
    // As diffusers: the order follows the absolute step index, and after an img2img start the
    // missing older slopes are simply left out of the sum.
    const order = Math.min(i + 1, MAX_ORDER);
    const terms = slopes.slice(0, order).map((d, j) => [lmsCoefficient(p.sigmas, order, i, j), d] as const);
    x = lincomb([1, x], ...terms);
    await args.onStep?.(i - start, x, p.timesteps.length - start);
  }
  return x;
}

export const lms = defineSampler(NAME, {
  plan, sample,
  addNoise: (config, p, start, x0, noise) => sigmaAddNoise(NAME, p, start, x0, noise),
});
