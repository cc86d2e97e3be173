// PNDM's pseudo linear multistep part (PLMS, Liu et al. 2022), as diffusers' PNDMScheduler with
// skip_prk_steps: the first step is repeated once (a second model call at the next timestep, whose
// output is averaged with the first: a Heun-like start), then Adams-Bashforth steps of order up to 4.
// The Runge-Kutta warm-up (skip_prk_steps: false) is not ported, so skip_prk_steps defaults to true.

import { DDPM_DEFAULTS, resolveConfig, type SchedulerConfig } from './config.ts';
import { callModel, lincomb } from './latents.ts';
import { sigmaOfAlphaCumprod } from './prediction.ts';
import { timestepAddNoise, timestepPlan, timestepWalk } from './timestep-plan.ts';
import type { SampleArgs, SamplingPlan } from './types.ts';
import { defineSampler } from './define.ts';

const NAME = 'pndm';

function resolve(config: SchedulerConfig) {
  return resolveConfig(NAME, { ...config, rescale_betas_zero_snr: false }, {
    ...DDPM_DEFAULTS,
    timestep_spacing: 'leading',
    set_alpha_to_one: false,
  }, { predictionTypes: ['epsilon', 'v_prediction'] });
}

function checkPrk(config: SchedulerConfig): void {
  if (config.skip_prk_steps === false) {
    throw new Error(`sampler "${NAME}": skip_prk_steps = false (Runge-Kutta warm-up) is not supported; set it to true`);
  }
}

function plan(config: SchedulerConfig, steps: number): SamplingPlan {
  checkPrk(config);
  const base = timestepPlan(NAME, resolve(config), steps);
  const descending = base.timesteps;
  // The second timestep is visited twice: once as the target of the first step, once for the
  // averaged re-evaluation.
  return { ...base, timesteps: descending.length > 1 ? [descending[0], descending[1], ...descending.slice(1)] : descending };
}

/** Average of past eps estimates with Adams-Bashforth weights (newest first). */
const AB_WEIGHTS: Record<number, number[]> = {
  2: [3 / 2, -1 / 2],
  3: [23 / 12, -16 / 12, 5 / 12],
  4: [55 / 24, -59 / 24, 37 / 24, -9 / 24],
};

async function sample(args: SampleArgs): Promise<Float32Array> {
  checkPrk(args.config);
  const c = resolve(args.config);
  const { timesteps } = plan(c, args.steps);
  const { ac, finalAlpha, stride, start } = timestepWalk(NAME, c, args, timesteps.length);

  /** x at timestep `from` moved to `to` along the eps estimate (the PNDM transfer formula). */
  const transfer = (x: Float32Array, from: number, to: number, modelOut: Float32Array): Float32Array => {
    const a = ac[from];
    const aPrev = to >= 0 ? ac[to] : finalAlpha;
    const eps = c.prediction_type === 'v_prediction' ? lincomb([Math.sqrt(a), modelOut], [Math.sqrt(1 - a), x]) : modelOut;
    const denom = a * Math.sqrt(1 - aPrev) + Math.sqrt(a * (1 - a) * aPrev);
    return lincomb([Math.sqrt(aPrev / a), x], [-(aPrev - a) / denom, eps]);
  };

  const history: Float32Array[] = []; // newest last; the averaged re-evaluation is not kept
  let firstSample: Float32Array | undefined;
  let x = args.x;
  for (let i = start; i < timesteps.length; i++) {
    const counter = i - start;
    const t = timesteps[i];
    const out = await callModel(args.model, x, t, sigmaOfAlphaCumprod(ac[t]));
    if (counter === 1 && firstSample) {
      // Re-evaluation: redo the first step from its start with the averaged output.
      x = transfer(firstSample, t + stride, t, lincomb([0.5, out], [0.5, history[0]]));
      firstSample = undefined;
    } else {
      history.push(out);
      if (history.length > 4) history.shift();
      const order = history.length;
      if (counter === 0) firstSample = x;
      const combined = order === 1 ? out : lincomb(...AB_WEIGHTS[order].map((w, k) => [w, history[order - 1 - k]] as const));
      x = transfer(x, t, t - stride, combined);
    }
    await args.onStep?.(counter, x, timesteps.length - start);
  }
  return x;
}

export const pndm = defineSampler(NAME, {
  plan, sample,
  addNoise: (config, p, start, x0, noise) => timestepAddNoise(NAME, resolve(config), p, start, x0, noise),
});
