import type { TorchGenerator } from '../random/torch-randn.ts';
import type { SchedulerConfig } from './config.ts';

/**
 * One model evaluation. `x` is the model input, already scaled by the sampler where the scheduler
 * requires it (diffusers' scale_model_input); `timestep` is the scheduler's timestep value (may be
 * fractional, e.g. with Karras sigmas); `sigma` is the noise level of that step, sqrt((1-ᾱ)/ᾱ), or
 * the flow-matching sigma. Returns what the config's prediction_type names (eps, v, x0 or flow).
 */
export type ModelFn = (x: Float32Array, timestep: number, sigma: number) => Promise<Float32Array>;

/**
 * Called after every scheduler step with the step's index (0-based within this run), the latents
 * after it and the number of steps this run makes. Throwing from it cancels sampling.
 */
export type StepCallback = (i: number, x: Float32Array, total: number) => void | Promise<void>;

/** What diffusers' set_timesteps(steps) produces. */
export interface SamplingPlan {
  /** Timestep values, one per model call, in order (Heun repeats all but the first). */
  timesteps: number[];
  /** The scheduler's sigma list (one more than the steps), or null for schedulers without one. */
  sigmas: number[] | null;
  /** Standard deviation of the initial noise for txt2img: latents = randn * initNoiseSigma. */
  initNoiseSigma: number;
  /** Model calls per step: img2img start indices are multiples of it. */
  order: number;
}

export interface SampleArgs {
  model: ModelFn;
  /** Initial latents: randn * initNoiseSigma (txt2img), or from addNoise (img2img). Not modified. */
  x: Float32Array;
  config: SchedulerConfig;
  steps: number;
  /** Noise source of the stochastic samplers (ancestral Euler, DDPM), drawn from in diffusers' order. */
  generator?: TorchGenerator;
  /** Index into plan.timesteps to start from (img2img); 0 for txt2img. */
  startIndex?: number;
  onStep?: StepCallback;
}

export interface Sampler {
  readonly name: string;
  /** Whether sample() draws noise and so needs a generator. */
  readonly stochastic: boolean;
  plan(config: SchedulerConfig, steps: number): SamplingPlan;
  sample(args: SampleArgs): Promise<Float32Array>;
  /** Noises clean latents `x0` to the level of plan.timesteps[startIndex] (diffusers' add_noise). */
  addNoise(config: SchedulerConfig, steps: number, startIndex: number, x0: Float32Array, noise: Float32Array): Float32Array;
}
