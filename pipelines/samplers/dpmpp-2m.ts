// DPM-Solver++(2M) (Lu et al. 2022), the multistep second-order solver in data prediction, as
// diffusers' DPMSolverMultistepScheduler with algorithm_type "dpmsolver++" and solver_order <= 2:
// the first step and (with lower_order_final or a zero final sigma) the last step are first order.

import { resolveConfig, SchedulerConfigError, type SchedulerConfig } from './config.ts';
import { callModel, lincomb } from './latents.ts';
import { vpOfSigma, vpX0 } from './prediction.ts';
import { runStart } from './run-checks.ts';
import { MULTISTEP_DEFAULTS, MULTISTEP_UNSUPPORTED, multistepAddNoise, multistepPlan } from './multistep-plan.ts';
import type { SampleArgs } from './types.ts';
import { defineSampler } from './define.ts';

const NAME = 'dpmpp_2m';

function resolve(config: SchedulerConfig) {
  const c = resolveConfig(NAME, config, {
    ...MULTISTEP_DEFAULTS,
    solver_type: 'midpoint',
    euler_at_final: false,
  }, {
    unsupported: {
      algorithm_type: 'dpmsolver++',
      ...MULTISTEP_UNSUPPORTED,
      use_lu_lambdas: false,
      variance_type: null,
    },
    predictionTypes: ['epsilon', 'v_prediction', 'sample'],
  });
  if (c.solver_order !== 1 && c.solver_order !== 2) {
    throw new SchedulerConfigError(NAME, `solver_order ${c.solver_order} is not supported (1 or 2)`);
  }
  if (c.solver_type !== 'midpoint' && c.solver_type !== 'heun') {
    throw new SchedulerConfigError(NAME, `solver_type ${String(c.solver_type)} is not supported (midpoint or heun)`);
  }
  // Diffusers writes the default as -Infinity, which some JSON readers turn into a string.
  const clipped = c.lambda_min_clipped;
  if (clipped !== undefined && clipped !== null && ![-Infinity, '-inf', '-Infinity'].includes(clipped as number | string)) {
    throw new SchedulerConfigError(NAME, `lambda_min_clipped = ${String(clipped)} is not supported (only -Infinity); remove it`);
  }
  return c;
}

function plan(config: SchedulerConfig, steps: number) {
  const c = resolve(config);
  return multistepPlan(NAME, c, steps, { roundKarras: c.beta_schedule !== 'squaredcos_cap_v2' });
}

async function sample(args: SampleArgs): Promise<Float32Array> {
  const c = resolve(args.config);
  const p = plan(c, args.steps);
  const n = p.timesteps.length;
  const start = runStart(NAME, args, n);
  let previousX0: Float32Array | undefined;
  let x = args.x;
  for (let i = start; i < n; i++) {
    const s0 = vpOfSigma(p.sigmas[i]);
    const t = vpOfSigma(p.sigmas[i + 1]);
    const out = await callModel(args.model, x, p.timesteps[i], p.sigmas[i]);
    const x0 = vpX0(c.prediction_type, x, out, s0.alpha, s0.sigma);
    const lastStep = i === n - 1 && (c.euler_at_final || (c.lower_order_final && n < 15) || c.final_sigmas_type === 'zero');
    const h = t.lambda - s0.lambda;
    // alpha_t * (e^-h - 1); at sigma 0, h is infinite and the step lands on x0.
    const phi = t.alpha * Math.expm1(-h);
    if (c.solver_order === 1 || !previousX0 || lastStep) {
      x = lincomb([t.sigma / s0.sigma, x], [-phi, x0]);
    } else {
      const s1 = vpOfSigma(p.sigmas[i - 1]);
      const r0 = (s0.lambda - s1.lambda) / h;
      // D1 = (x0 - previousX0) / r0, weighted by the solver type's second-order coefficient.
      const w = c.solver_type === 'midpoint' ? -0.5 * phi : t.alpha * (Math.expm1(-h) / h + 1);
      x = lincomb([t.sigma / s0.sigma, x], [-phi + w / r0, x0], [-w / r0, previousX0]);
    }
    previousX0 = x0;
    await args.onStep?.(i - start, x, n - start);
  }
  return x;
}

export const dpmpp2m = defineSampler(NAME, {
  plan, sample,
  addNoise: (config, p, start, x0, noise) => multistepAddNoise(NAME, p, start, x0, noise),
});
