// Euler for rectified-flow models (SD3-style flow matching), as diffusers'
// FlowMatchEulerDiscreteScheduler: x_t = (1-σ)·x0 + σ·noise, the model predicts the velocity
// noise - x0, and each step moves x by (σ_next - σ)·v. `shift` bends the sigma schedule towards
// high noise (σ' = shift·σ / (1 + (shift-1)·σ)), as needed at high resolutions. With
// use_dynamic_shifting (FLUX.1-dev) the bend follows the image instead: σ' = e^μ / (e^μ + 1/σ − 1),
// μ from the number of image tokens. What a pipeline passes to diffusers' set_timesteps travels in
// the config: `sigmas` (its own σ list before shifting) and `mu`.

import { checkSteps, resolveConfig, SchedulerConfigError, type SchedulerConfig } from './config.ts';
import { linspace } from './numpy-compat.ts';
import { callModel, lincomb } from './latents.ts';
import { checkStartIndex, runStart } from './run-checks.ts';
import type { SampleArgs, SamplingPlan } from './types.ts';
import { defineSampler } from './define.ts';

const NAME = 'flow_euler';
const f32 = Math.fround;

function resolve(config: SchedulerConfig) {
  // Flow models predict velocity whatever prediction_type a borrowed config names, as in diffusers.
  const c = resolveConfig(NAME, { ...config, prediction_type: 'flow_prediction' }, {
    num_train_timesteps: 1000,
    shift: 1,
  }, {
    unsupported: {
      invert_sigmas: false,
      stochastic_sampling: false,
      use_karras_sigmas: false,
      use_exponential_sigmas: false,
      use_beta_sigmas: false,
    },
  });
  const terminal = c.shift_terminal;
  if (terminal !== undefined && terminal !== null && (typeof terminal !== 'number' || !(terminal >= 0 && terminal < 1))) {
    throw new SchedulerConfigError(NAME, `shift_terminal must be a number in [0, 1), got ${String(terminal)}`);
  }
  if (c.use_dynamic_shifting && (typeof c.mu !== 'number' || !Number.isFinite(c.mu))) {
    throw new SchedulerConfigError(NAME, 'use_dynamic_shifting needs mu, the resolution-dependent shift the pipeline computes (flowShiftMu)');
  }
  const own = c.sigmas;
  if (own !== undefined && (!Array.isArray(own) || own.some((v) => typeof v !== 'number' || !(v > 0 && v <= 1)))) {
    throw new SchedulerConfigError(NAME, 'sigmas must be a list of numbers in (0, 1]');
  }
  return c;
}

/** μ for use_dynamic_shifting: linear in the image's token count between (base_image_seq_len, base_shift) and (max_image_seq_len, max_shift), as diffusers' calculate_shift. */
export function flowShiftMu(config: SchedulerConfig, imageTokens: number): number {
  const num = (key: string, fallback: number) => (typeof config[key] === 'number' ? (config[key] as number) : fallback);
  const [baseLen, maxLen, baseShift, maxShift] = [num('base_image_seq_len', 256), num('max_image_seq_len', 4096), num('base_shift', 0.5), num('max_shift', 1.15)];
  const m = (maxShift - baseShift) / (maxLen - baseLen);
  return imageTokens * m + (baseShift - m * baseLen);
}

const shifted = (shift: number, s: number) => (shift * s) / (1 + (shift - 1) * s);

function plan(config: SchedulerConfig, steps: number): SamplingPlan & { sigmas: number[] } {
  const c = resolve(config);
  const n = c.num_train_timesteps;
  checkSteps(NAME, steps, n);
  // The training schedule's end points (float32; shifted once unless the shift is dynamic), then the
  // inference sigmas spaced between them (or the pipeline's own) and shifted, as diffusers does.
  const dynamic = c.use_dynamic_shifting === true;
  const trainSigma = (t: number) => {
    const s = f32(t / n);
    return dynamic ? s : f32(f32(c.shift * s) / f32(1 + f32((c.shift - 1) * s)));
  };
  const e = dynamic ? Math.exp(c.mu as number) : 0;
  let sigmas: number[];
  if (Array.isArray(c.sigmas)) {
    // A pipeline's own sigmas are float32 arrays in numpy, so each operation rounds to float32.
    if (c.sigmas.length !== steps) throw new SchedulerConfigError(NAME, `${c.sigmas.length} sigmas given for ${steps} steps`);
    const e32 = f32(e);
    sigmas = (c.sigmas as number[]).map(f32).map((s) => (dynamic ? f32(e32 / f32(e32 + f32(f32(1 / s) - 1))) : f32(f32(c.shift * s) / f32(1 + f32((c.shift - 1) * s)))));
  } else {
    sigmas = linspace(trainSigma(n) * n, trainSigma(1) * n, steps).map((t) => (dynamic ? e / (e + (1 / (t / n) - 1)) : shifted(c.shift, t / n)));
  }
  if (typeof c.shift_terminal === 'number' && c.shift_terminal > 0) {
    const scale = (1 - sigmas[sigmas.length - 1]) / (1 - c.shift_terminal);
    sigmas = sigmas.map((s) => 1 - (1 - s) / scale);
  }
  sigmas = sigmas.map(f32);
  return { timesteps: sigmas.map((s) => f32(s * n)), sigmas: [...sigmas, 0], initNoiseSigma: 1, order: 1 };
}

async function sample(args: SampleArgs): Promise<Float32Array> {
  const p = plan(args.config, args.steps);
  const start = runStart(NAME, args, p.timesteps.length);
  let x = args.x;
  for (let i = start; i < p.timesteps.length; i++) {
    const v = await callModel(args.model, x, p.timesteps[i], p.sigmas[i]);
    x = lincomb([1, x], [p.sigmas[i + 1] - p.sigmas[i], v]);
    await args.onStep?.(i - start, x, p.timesteps.length - start);
  }
  return x;
}

export const flowEuler = defineSampler(NAME, {
  plan,
  sample,
  addNoise(config, p, startIndex, x0, noise) {
    const sigma = p.sigmas[checkStartIndex(NAME, startIndex, p.timesteps.length)];
    return lincomb([1 - sigma, x0], [sigma, noise]);
  },
});
