// diffusers' `pag_adaptive_scale`: the perturbed-attention guidance scale falls linearly as sampling
// moves away from pure noise, s(t) = max(0, s − a·(1000 − t)) with t on the 0–1000 training scale,
// and stays at 0 once it gets there. a = 0 keeps the scale constant (diffusers' default). The slope is
// per timestep unit, so even a = 0.2 at s = 3 switches PAG off 15 timesteps into the schedule.

/** The PAG scale to use at `timestep` for a base `scale` and adaptive slope `adaptive` (≥ 0). */
export function adaptivePagScale(scale: number, adaptive: number, timestep: number): number {
  if (!(adaptive >= 0)) throw new RangeError(`adaptive PAG scale ${adaptive} must be 0 or more`);
  if (adaptive === 0 || scale <= 0) return scale;
  return Math.max(0, scale - adaptive * (1000 - timestep));
}

/**
 * A guidance plan with its PAG scale taken at `timestep`. The batch keeps its perturbed rows even
 * when the scale reaches 0 (as diffusers does), so one session serves every step.
 */
export function planAtTimestep<P extends { pag: number }>(plan: P, adaptive: number | undefined, timestep: number): P {
  if (!adaptive) return plan;
  return { ...plan, pag: adaptivePagScale(plan.pag, adaptive, timestep) };
}
