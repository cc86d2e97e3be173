// The emoji models' sampler (training/emoji/flow.py): rectified flow, Euler steps on a shifted time
// grid, classifier-free guidance on every channel, and optionally a perturbed-attention branch.
// Arithmetic is rounded to float32 where torch rounds it, so a sample follows PyTorch's step by step.

const f32 = Math.fround;

/** t_i = shift·u / (1 + (shift − 1)·u), u = 1 − i/steps, i = 0..steps (t_0 = 1, t_steps = 0); in double, as Python. */
export function timeGrid(steps: number, shift: number): number[] {
  return Array.from({ length: steps + 1 }, (_, i) => {
    const u = 1 - i / steps;
    return (shift * u) / (1 + (shift - 1) * u);
  });
}

/**
 * Which branches one denoiser call runs, each a block of `images` rows in this order:
 * cond, uncond (when cfg ≠ 1), perturbed-cond (when a perturbation scale is given: last, as the
 * head-perturbation graphs expect).
 */
export interface BranchPlan {
  cfg: number;
  /** SoftPAG/PAG scale s; 0 = no perturbed branch. */
  perturb: number;
}

export const hasUncond = (p: BranchPlan): boolean => p.cfg !== 1;
export const hasPerturbed = (p: BranchPlan): boolean => p.perturb > 0;
export const branchCount = (p: BranchPlan): number => 1 + (hasUncond(p) ? 1 : 0) + (hasPerturbed(p) ? 1 : 0);

/** v = v_u + cfg·(v_c − v_u) + s·(v_c − v_p) from the batched output (`size` values per branch). */
export function guidedVelocity(p: BranchPlan, out: Float32Array, size: number): Float32Array {
  const block = (i: number) => out.subarray(i * size, (i + 1) * size);
  const cond = block(0);
  const uncond = hasUncond(p) ? block(1) : undefined;
  const perturbed = hasPerturbed(p) ? block(hasUncond(p) ? 2 : 1) : undefined;
  const cfg = f32(p.cfg);
  const s = f32(p.perturb);
  const v = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    let x = uncond ? f32(uncond[i] + f32(cfg * f32(cond[i] - uncond[i]))) : cond[i];
    if (perturbed) x = f32(x + f32(s * f32(cond[i] - perturbed[i])));
    v[i] = x;
  }
  return v;
}

/** x ← x + (t_next − t)·v in place, with the step rounded to float32 as torch does for a Python scalar. */
export function eulerStep(x: Float32Array, v: Float32Array, dt: number): void {
  const d = f32(dt);
  for (let i = 0; i < x.length; i++) x[i] = x[i] + f32(d * v[i]);
}
