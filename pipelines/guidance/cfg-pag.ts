// Classifier-free guidance and perturbed-attention guidance over one batched UNet call, in diffusers'
// batch order: [uncond?, cond, perturbed?], each block `images` rows.

export interface GuidancePlan {
  cfg: number;
  /** PAG / SoftPAG scale; 0 = no perturbed branch. */
  pag: number;
}

export const usesCfg = (g: GuidancePlan): boolean => g.cfg > 1;
export const usesPerturbation = (g: GuidancePlan): boolean => g.pag > 0;

/** How many blocks of `images` rows one UNet call has. */
export function branchCount(g: GuidancePlan): number {
  return 1 + (usesCfg(g) ? 1 : 0) + (usesPerturbation(g) ? 1 : 0);
}

/** Rows [uncond?, cond, perturbed?] for latents `x` of `images` rows (each `size` values). */
export function batchRows(g: GuidancePlan, x: Float32Array): Float32Array {
  const n = branchCount(g);
  const out = new Float32Array(x.length * n);
  for (let b = 0; b < n; b++) out.set(x, b * x.length);
  return out;
}

/** uncond + cfg·(cond − uncond) + s·(cond − perturbed), from the model's batched output. */
export function combine(g: GuidancePlan, out: Float32Array, size: number): Float32Array {
  const cfg = usesCfg(g);
  const pag = usesPerturbation(g);
  const block = (i: number) => out.subarray(i * size, (i + 1) * size);
  const uncond = cfg ? block(0) : undefined;
  const cond = block(cfg ? 1 : 0);
  const perturbed = pag ? block(cfg ? 2 : 1) : undefined;
  const r = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    let v = uncond ? uncond[i] + g.cfg * (cond[i] - uncond[i]) : cond[i];
    if (perturbed) v += g.pag * (cond[i] - perturbed[i]);
    r[i] = v;
  }
  return r;
}
