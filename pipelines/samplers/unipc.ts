// UniPC (Zhao et al. 2023): a multistep predictor (UniP) followed, once the next model output is
// known, by a corrector (UniC) that refines the previous step for free. As diffusers'
// UniPCMultistepScheduler (defaults: bh2, predict_x0, order 2, lower_order_final).

import { resolveConfig, SchedulerConfigError, type SchedulerConfig } from './config.ts';
import { callModel, lincomb } from './latents.ts';
import { vpEps, vpOfSigma, vpX0 } from './prediction.ts';
import { runStart } from './run-checks.ts';
import { MULTISTEP_DEFAULTS, MULTISTEP_UNSUPPORTED, multistepAddNoise, multistepPlan } from './multistep-plan.ts';
import type { SampleArgs } from './types.ts';
import { defineSampler } from './define.ts';

const NAME = 'unipc';

function resolve(config: SchedulerConfig) {
  const c = resolveConfig(NAME, config, {
    ...MULTISTEP_DEFAULTS,
    solver_type: 'bh2',
    predict_x0: true,
    disable_corrector: [] as number[],
  }, {
    unsupported: {
      ...MULTISTEP_UNSUPPORTED,
      solver_p: null,
    },
    predictionTypes: ['epsilon', 'v_prediction', 'sample'],
  });
  if (!Number.isInteger(c.solver_order) || c.solver_order < 1 || c.solver_order > 3) {
    throw new SchedulerConfigError(NAME, `solver_order ${c.solver_order} is not supported (1 to 3)`);
  }
  if (c.solver_type !== 'bh1' && c.solver_type !== 'bh2') {
    throw new SchedulerConfigError(NAME, `solver_type ${String(c.solver_type)} is not supported (bh1 or bh2)`);
  }
  if (!Array.isArray(c.disable_corrector)) throw new SchedulerConfigError(NAME, 'disable_corrector must be a list of step indices');
  if (!c.predict_x0 && c.final_sigmas_type === 'zero') {
    // The noise-prediction update is 0·inf at sigma 0 (diffusers returns NaN there).
    throw new SchedulerConfigError(NAME, 'predict_x0 = false needs final_sigmas_type "sigma_min"');
  }
  return c;
}

function plan(config: SchedulerConfig, steps: number) {
  return multistepPlan(NAME, resolve(config), steps);
}

/** Solves the small dense system A·x = b by Gaussian elimination with partial pivoting. */
export function solveSmall(a: number[][], b: number[]): number[] {
  const n = b.length;
  const m = a.map((row, i) => [...row.slice(0, n), b[i]]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(m[r][col]) > Math.abs(m[pivot][col])) pivot = r;
    [m[col], m[pivot]] = [m[pivot], m[col]];
    for (let r = col + 1; r < n; r++) {
      const f = m[r][col] / m[col][col];
      for (let k = col; k <= n; k++) m[r][k] -= f * m[col][k];
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = m[r][n];
    for (let k = r + 1; k < n; k++) s -= m[r][k] * x[k];
    x[r] = s / m[r][r];
  }
  return x;
}

type Resolved = ReturnType<typeof resolve>;

/**
 * The shared part of UniP and UniC for a step from sigma `from` to `to` with `order` terms:
 * the base (first-order) update and the coefficients applied to the difference terms.
 */
function bhCoefficients(c: Resolved, from: number, to: number, order: number, pastLambdas: number[]) {
  const s0 = vpOfSigma(from);
  const t = vpOfSigma(to);
  const h = t.lambda - s0.lambda;
  const hh = c.predict_x0 ? -h : h;
  const hPhi1 = Math.expm1(hh);
  const bH = c.solver_type === 'bh1' ? hh : Math.expm1(hh);
  const rks = [...pastLambdas.map((l) => (l - s0.lambda) / h), 1];
  const rows: number[][] = [];
  const b: number[] = [];
  let hPhiK = hPhi1 / hh - 1;
  let factorial = 1;
  for (let k = 1; k <= order; k++) {
    rows.push(rks.map((r) => r ** (k - 1)));
    b.push((hPhiK * factorial) / bH);
    factorial *= k + 1;
    hPhiK = hPhiK / hh - 1 / factorial;
  }
  // x_t = ratio·x - scale·hPhi1·m0 - scale·bH·Σ rho_k·D_k
  const ratio = c.predict_x0 ? t.sigma / s0.sigma : t.alpha / s0.alpha;
  const scale = c.predict_x0 ? t.alpha : t.sigma;
  return { rks, rows, b, ratio, base: scale * hPhi1, corr: scale * bH };
}

interface History {
  /** Converted model outputs (x0 or eps), newest last. */
  outputs: Float32Array[];
  /** log-SNR at plan index i. */
  lambdaAt: (i: number) => number;
}

/**
 * The older outputs m_j (all but the newest) with their weights rho_j / r_j in Σ rho_j·D_j,
 * D_j = (m_j - m0) / r_j.
 */
function differenceTerms(h: History, rhos: number[], rks: number[], count: number) {
  return Array.from({ length: count }, (_, j) => [rhos[j] / rks[j], h.outputs[h.outputs.length - 2 - j]] as const);
}

/** UniP: predicts plan step i -> i+1 from x and the last `order` outputs (m = outputs[-1]). */
function predict(c: Resolved, sigmas: number[], h: History, x: Float32Array, i: number, order: number): Float32Array {
  const m = h.outputs[h.outputs.length - 1];
  const past = Array.from({ length: order - 1 }, (_, j) => h.lambdaAt(i - (j + 1)));
  const k = bhCoefficients(c, sigmas[i], sigmas[i + 1], order, past);
  const rhos = order === 1 ? [] : order === 2 ? [0.5] : solveSmall(k.rows.slice(0, -1).map((r) => r.slice(0, -1)), k.b.slice(0, -1));
  const terms = differenceTerms(h, rhos, k.rks, order - 1);
  if (terms.length === 0) return lincomb([k.ratio, x], [-k.base, m]); // corr may be infinite at sigma 0
  const sumW = terms.reduce((s, [w]) => s + w, 0);
  return lincomb([k.ratio, x], [-k.base + k.corr * sumW, m], ...terms.map(([w, a]) => [-k.corr * w, a] as const));
}

/**
 * UniC: redoes the step i-1 -> i from `lastSample` once the output `m` at i is known; `outputs`
 * still ends with the output at i-1.
 */
function correct(c: Resolved, sigmas: number[], h: History, lastSample: Float32Array, m: Float32Array, i: number, order: number): Float32Array {
  const m0 = h.outputs[h.outputs.length - 1];
  const past = Array.from({ length: order - 1 }, (_, j) => h.lambdaAt(i - (j + 2)));
  const k = bhCoefficients(c, sigmas[i - 1], sigmas[i], order, past);
  const rhos = order === 1 ? [0.5] : solveSmall(k.rows, k.b);
  const terms = differenceTerms(h, rhos, k.rks, order - 1);
  const sumW = terms.reduce((s, [w]) => s + w, 0);
  const rhoNew = rhos[rhos.length - 1];
  return lincomb(
    [k.ratio, lastSample],
    [-k.base + k.corr * (sumW + rhoNew), m0],
    ...terms.map(([w, a]) => [-k.corr * w, a] as const),
    [-k.corr * rhoNew, m],
  );
}

async function sample(args: SampleArgs): Promise<Float32Array> {
  const c = resolve(args.config);
  const p = plan(c, args.steps);
  const n = p.timesteps.length;
  const start = runStart(NAME, args, n);
  const history: History = { outputs: [], lambdaAt: (i) => vpOfSigma(p.sigmas[i]).lambda };
  let last: { sample: Float32Array; order: number } | undefined;
  let x = args.x;
  for (let i = start; i < n; i++) {
    const out = await callModel(args.model, x, p.timesteps[i], p.sigmas[i]);
    const { alpha, sigma } = vpOfSigma(p.sigmas[i]);
    const m = c.predict_x0 ? vpX0(c.prediction_type, x, out, alpha, sigma) : vpEps(c.prediction_type, x, out, alpha, sigma);
    if (last && !(c.disable_corrector as number[]).includes(i - 1)) x = correct(c, p.sigmas, history, last.sample, m, i, last.order);

    history.outputs.push(m);
    if (history.outputs.length > c.solver_order) history.outputs.shift();
    // Warm up from first order; with lower_order_final, also wind down over the last steps.
    const wanted = c.lower_order_final ? Math.min(c.solver_order, n - i) : c.solver_order;
    const order = Math.min(wanted, i - start + 1);
    last = { sample: x, order };
    x = predict(c, p.sigmas, history, x, i, order);
    await args.onStep?.(i - start, x, n - start);
  }
  return x;
}

export const unipc = defineSampler(NAME, {
  plan, sample,
  addNoise: (config, p, start, x0, noise) => multistepAddNoise(NAME, p, start, x0, noise),
});
