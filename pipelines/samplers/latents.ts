// Element-wise latent arithmetic. Coefficients are doubles; results are stored as float32 latents.

import type { ModelFn } from './types.ts';

/** Σ coef_k * a_k element-wise, computed in double and stored as float32. */
export function lincomb(...terms: Array<readonly [number, Float32Array]>): Float32Array {
  const n = terms[0][1].length;
  for (const [, a] of terms) {
    if (a.length !== n) throw new Error(`latent size mismatch: ${a.length} vs ${n}`);
  }
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (const [c, a] of terms) s += c * a[i];
    out[i] = s;
  }
  return out;
}

/** Values clamped to [-range, range] (diffusers' clip_sample). */
export function clamp(a: Float32Array, range: number): Float32Array {
  return a.map((v) => Math.min(range, Math.max(-range, v)));
}

/** Calls the model and checks that it returned latents of the right size. */
export async function callModel(model: ModelFn, x: Float32Array, timestep: number, sigma: number): Promise<Float32Array> {
  const out = await model(x, timestep, sigma);
  if (!(out instanceof Float32Array) || out.length !== x.length) {
    throw new Error(`model returned ${out instanceof Float32Array ? `${out.length} values` : typeof out} for ${x.length} latent values at timestep ${timestep}`);
  }
  return out;
}
