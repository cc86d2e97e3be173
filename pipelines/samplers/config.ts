// Scheduler configs are plain data with diffusers' key names, so a model folder's
// scheduler/scheduler_config.json can be passed in unchanged. Each sampler fills in its own
// defaults (those of the matching diffusers class) and refuses options it does not implement,
// rather than silently sampling something else.

export type BetaSchedule = 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
export type TimestepSpacing = 'leading' | 'trailing' | 'linspace';
export type PredictionType = 'epsilon' | 'v_prediction' | 'sample' | 'flow_prediction';

export interface SchedulerConfig {
  num_train_timesteps?: number;
  beta_start?: number;
  beta_end?: number;
  beta_schedule?: BetaSchedule;
  trained_betas?: readonly number[] | null;
  rescale_betas_zero_snr?: boolean;
  prediction_type?: PredictionType;
  timestep_spacing?: TimestepSpacing;
  steps_offset?: number;
  /** DDIM/PNDM: whether the step past t=0 uses alpha_cumprod = 1 (else alphas_cumprod[0]). */
  set_alpha_to_one?: boolean;
  /** DDIM/DDPM: clamp the predicted x0 to [-clip_sample_range, clip_sample_range]. */
  clip_sample?: boolean;
  clip_sample_range?: number;
  use_karras_sigmas?: boolean;
  /** Sigma appended after the last step: 0, or the smallest training sigma. */
  final_sigmas_type?: 'zero' | 'sigma_min';
  /** DPM-Solver / UniPC order and their switch to first order near the end. */
  solver_order?: number;
  lower_order_final?: boolean;
  /** Flow matching: the resolution shift of the sigma schedule. */
  shift?: number;
  /** Any other key (e.g. `_class_name`) is ignored unless a sampler lists it as unsupported. */
  [key: string]: unknown;
}

/**
 * The defaults that most diffusers scheduler classes share: the original DDPM training schedule
 * (1000 linear betas from 1e-4 to 0.02) and an eps-predicting model.
 */
export const DDPM_DEFAULTS = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  prediction_type: 'epsilon',
  steps_offset: 0,
} as const;

/** A config with every key a sampler reads filled in. */
export type ResolvedConfig<K extends keyof SchedulerConfig> = Required<Pick<SchedulerConfig, K>> & SchedulerConfig;

export class SchedulerConfigError extends Error {
  constructor(sampler: string, message: string) {
    super(`sampler "${sampler}": ${message}`);
    this.name = 'SchedulerConfigError';
  }
}

const ENUMS: Record<string, readonly string[]> = {
  beta_schedule: ['linear', 'scaled_linear', 'squaredcos_cap_v2'],
  timestep_spacing: ['leading', 'trailing', 'linspace'],
  prediction_type: ['epsilon', 'v_prediction', 'sample', 'flow_prediction'],
  final_sigmas_type: ['zero', 'sigma_min'],
};

/**
 * Merges `config` over a sampler's defaults and checks it.
 * `unsupported` maps option names to the only value this port implements (null/undefined/false
 * values in the config always pass, as diffusers writes disabled options that way).
 */
export function resolveConfig<K extends keyof SchedulerConfig>(
  sampler: string,
  config: SchedulerConfig,
  defaults: Required<Pick<SchedulerConfig, K>>,
  options: { unsupported?: Record<string, unknown>; predictionTypes?: readonly PredictionType[] } = {},
): ResolvedConfig<K> {
  const fail = (message: string): never => {
    throw new SchedulerConfigError(sampler, message);
  };
  if (typeof config !== 'object' || config === null) fail('config must be an object');
  const merged: Record<string, unknown> = { ...defaults };
  for (const [key, value] of Object.entries(config)) {
    if (value !== undefined && value !== null) merged[key] = value;
  }
  for (const [key, allowed] of Object.entries(ENUMS)) {
    const v = merged[key];
    if (v !== undefined && !allowed.includes(v as string)) {
      fail(`${key} is ${JSON.stringify(v)}; expected one of ${allowed.join(', ')}`);
    }
  }
  for (const key of ['num_train_timesteps', 'steps_offset', 'solver_order'] as const) {
    const v = merged[key];
    if (v !== undefined && (!Number.isInteger(v) || (v as number) < 0)) fail(`${key} must be an integer >= 0, got ${String(v)}`);
  }
  for (const key of ['beta_start', 'beta_end', 'shift', 'clip_sample_range'] as const) {
    const v = merged[key];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v < 0)) fail(`${key} must be a finite number >= 0, got ${String(v)}`);
  }
  if ((merged.num_train_timesteps as number | undefined) === 0) fail('num_train_timesteps must be at least 1');
  for (const [key, only] of Object.entries(options.unsupported ?? {})) {
    const v = config[key];
    if (v === undefined || v === null || v === false || v === only) continue;
    if (Array.isArray(v) && v.length === 0) continue;
    fail(`${key} = ${JSON.stringify(v)} is not supported by this port (only ${JSON.stringify(only)}); choose another sampler or remove the option`);
  }
  const prediction = merged.prediction_type as PredictionType | undefined;
  if (prediction !== undefined && options.predictionTypes && !options.predictionTypes.includes(prediction)) {
    fail(`prediction_type "${prediction}" is not supported here; use one of ${options.predictionTypes.join(', ')}`);
  }
  return merged as ResolvedConfig<K>;
}

/** Checks a step count against the training schedule. */
export function checkSteps(sampler: string, steps: number, numTrainTimesteps: number): void {
  if (!Number.isInteger(steps) || steps < 1) {
    throw new SchedulerConfigError(sampler, `steps must be an integer >= 1, got ${steps}`);
  }
  if (steps > numTrainTimesteps) {
    throw new SchedulerConfigError(sampler, `steps (${steps}) cannot exceed num_train_timesteps (${numTrainTimesteps})`);
  }
}
