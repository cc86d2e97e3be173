// The noise schedule shared by all discrete-time samplers: betas, cumulative alphas, training
// sigmas, inference timestep spacing and Karras sigmas, computed as diffusers does. Diffusers keeps
// betas and alphas_cumprod in float32, so they are rounded to float32 here too; that is what makes
// the derived timesteps (e.g. Karras ones, found by interpolating log-sigmas) agree.

import { SchedulerConfigError, type SchedulerConfig, type TimestepSpacing } from './config.ts';
import { arange, linspace, roundHalfEven } from './numpy-compat.ts';

const f32 = Math.fround;

type ScheduleKeys = Pick<SchedulerConfig, 'num_train_timesteps' | 'beta_start' | 'beta_end' | 'beta_schedule' | 'trained_betas' | 'rescale_betas_zero_snr'>;

/** torch.linspace(start, end, n, dtype=float32): filled from both ends towards the middle. */
function linspaceF32(start: number, end: number, n: number): Float64Array {
  const out = new Float64Array(n);
  const s = f32(start);
  const e = f32(end);
  const step = n > 1 ? f32(f32(e - s) / (n - 1)) : 0;
  const halfway = Math.floor(n / 2);
  for (let i = 0; i < n; i++) out[i] = i < halfway ? f32(s + step * i) : f32(e - step * (n - 1 - i));
  return out;
}

/** Betas of the squaredcos_cap_v2 (cosine) schedule. */
function cosineBetas(n: number, maxBeta = 0.999): Float64Array {
  const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * Math.PI / 2) ** 2;
  return Float64Array.from({ length: n }, (_, i) => f32(Math.min(1 - alphaBar((i + 1) / n) / alphaBar(i / n), maxBeta)));
}

/** Training betas (float32 values) of a config. */
export function betas(config: ScheduleKeys): Float64Array {
  const n = config.num_train_timesteps ?? 1000;
  let b: Float64Array;
  if (config.trained_betas) {
    if (config.trained_betas.length !== n) {
      throw new SchedulerConfigError('schedule', `trained_betas has ${config.trained_betas.length} values but num_train_timesteps is ${n}`);
    }
    b = Float64Array.from(config.trained_betas, f32);
  } else {
    const start = config.beta_start ?? 0.0001;
    const end = config.beta_end ?? 0.02;
    switch (config.beta_schedule ?? 'linear') {
      case 'linear':
        b = linspaceF32(start, end, n);
        break;
      case 'scaled_linear':
        b = linspaceF32(start ** 0.5, end ** 0.5, n).map((x) => f32(x * x));
        break;
      case 'squaredcos_cap_v2':
        b = cosineBetas(n);
        break;
      default:
        throw new SchedulerConfigError('schedule', `unknown beta_schedule ${String(config.beta_schedule)}`);
    }
  }
  return config.rescale_betas_zero_snr ? rescaleZeroTerminalSnr(b) : b;
}

/** Cumulative products of (1 - beta): accumulated in double, each stored as float32 (as torch.cumprod). */
function cumprodOfOneMinus(b: Float64Array): Float64Array {
  const out = new Float64Array(b.length);
  let acc = 1;
  for (let i = 0; i < b.length; i++) {
    acc *= f32(1 - b[i]);
    out[i] = f32(acc);
  }
  return out;
}

/** Rescales betas so the last timestep has zero SNR (Lin et al. 2023, Algorithm 1). */
function rescaleZeroTerminalSnr(b: Float64Array): Float64Array {
  const sqrtBar = cumprodOfOneMinus(b).map(Math.sqrt);
  const first = sqrtBar[0];
  const last = sqrtBar[sqrtBar.length - 1];
  const bar = sqrtBar.map((s) => (((s - last) * first) / (first - last)) ** 2);
  return bar.map((a, i) => f32(1 - (i === 0 ? a : a / bar[i - 1])));
}

/**
 * alphas_cumprod[t] for t = 0 .. num_train_timesteps-1.
 * `terminalFloor`: the sigma-based samplers replace a zero terminal alpha by 2^-24 so that the
 * largest sigma stays finite (only relevant with rescale_betas_zero_snr).
 */
export function alphasCumprod(config: ScheduleKeys, terminalFloor = false): Float64Array {
  const ac = cumprodOfOneMinus(betas(config));
  if (terminalFloor && config.rescale_betas_zero_snr) ac[ac.length - 1] = 2 ** -24;
  return ac;
}

/** Training sigmas sqrt((1 - a) / a), float32 like diffusers' tensor arithmetic. */
export function trainingSigmas(ac: Float64Array): Float64Array {
  return ac.map((a) => f32(Math.sqrt(f32(f32(1 - a) / a))));
}

/**
 * Inference timesteps (descending) for the DDIM-family spacing rules.
 * `extraStep`: DPM-Solver and UniPC space n+1 points and drop the last (leading/linspace).
 * `roundLinspace`: integer timesteps (DDIM, DDPM, PNDM, DPM, UniPC) or float ones (Euler family).
 */
export function spacedTimesteps(
  spacing: TimestepSpacing,
  numTrain: number,
  n: number,
  stepsOffset: number,
  { extraStep = false, roundLinspace = true } = {},
): number[] {
  switch (spacing) {
    case 'linspace': {
      const pts = linspace(0, numTrain - 1, extraStep ? n + 1 : n).reverse();
      const ts = extraStep ? pts.slice(0, n) : pts;
      return roundLinspace ? ts.map(roundHalfEven) : ts.map(f32);
    }
    case 'leading': {
      const ratio = Math.floor(numTrain / (extraStep ? n + 1 : n));
      const count = extraStep ? n + 1 : n;
      const ts = Array.from({ length: count }, (_, i) => i * ratio).reverse();
      return (extraStep ? ts.slice(0, n) : ts).map((t) => t + stepsOffset);
    }
    case 'trailing':
      return arange(numTrain, 0, -numTrain / n).map((t) => roundHalfEven(t) - 1);
    default:
      throw new SchedulerConfigError('schedule', `unknown timestep_spacing ${String(spacing)}`);
  }
}

/** Karras et al. (2022) sigmas: uniform in sigma^(1/rho) from sigmaMax down to sigmaMin. */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, n: number, rho = 7): number[] {
  const minInv = sigmaMin ** (1 / rho);
  const maxInv = sigmaMax ** (1 / rho);
  return linspace(0, 1, n).map((r) => (maxInv + r * (minInv - maxInv)) ** rho);
}

/** Fractional training timestep whose sigma is `sigma`, by linear interpolation in log-sigma. */
export function sigmaToTimestep(sigma: number, logSigmas: Float64Array): number {
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  // Last index whose log-sigma is <= logSigma (0 when none), capped so that low+1 exists.
  let low = 0;
  for (let i = 0; i < logSigmas.length; i++) if (logSigma - logSigmas[i] >= 0) low = i;
  low = Math.min(low, logSigmas.length - 2);
  const lo = logSigmas[low];
  const hi = logSigmas[low + 1];
  const w = Math.min(1, Math.max(0, (lo - logSigma) / (lo - hi)));
  return (1 - w) * low + w * (low + 1);
}

/** log of float32 sigmas, kept in float32 as numpy does for a float32 array. */
export function logSigmasF32(sigmas: Float64Array): Float64Array {
  return sigmas.map((s) => f32(Math.log(s)));
}
