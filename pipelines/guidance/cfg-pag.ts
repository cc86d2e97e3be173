// Classifier-free guidance and perturbed-attention guidance (PAG / SoftPAG) over one batched model
// call: every branch is a block of `images` rows, the perturbed branch last (the head-perturbation
// graphs perturb the last rows). Models differ in where the unconditional block sits, when CFG runs
// an unconditional branch and whether the combination is rounded to float32 after every operation,
// so each family passes its convention; diffusers' is the default.

export interface GuidancePlan {
  cfg: number;
  /** PAG / SoftPAG scale; 0 = no perturbed branch. */
  pag: number;
}

export interface GuidanceConvention {
  /** Whether the unconditional block comes before the conditional one (diffusers) or after it. */
  uncondFirst: boolean;
  /** Whether a CFG scale runs an unconditional branch at all. */
  runsUncond(cfg: number): boolean;
  /** Rounding after each operation: Math.fround to follow torch's float32 tensors, or none (float64). */
  round(x: number): number;
}

/** diffusers: [uncond?, cond, perturbed?], CFG from a scale above 1, combined in float64. */
export const DIFFUSERS_GUIDANCE: GuidanceConvention = { uncondFirst: true, runsUncond: (cfg) => cfg > 1, round: (x) => x };

/** The emoji models' training code: [cond, uncond?, perturbed?], CFG at any scale but 1, float32 throughout. */
export const EMOJI_GUIDANCE: GuidanceConvention = { uncondFirst: false, runsUncond: (cfg) => cfg !== 1, round: Math.fround };

export type Branch = 'uncond' | 'cond' | 'perturbed';

export const usesCfg = (g: GuidancePlan, c = DIFFUSERS_GUIDANCE): boolean => c.runsUncond(g.cfg);
export const usesPerturbation = (g: GuidancePlan): boolean => g.pag > 0;

/** The branches of one model call, in batch order. */
export function branches(g: GuidancePlan, c = DIFFUSERS_GUIDANCE): Branch[] {
  const guided: Branch[] = usesCfg(g, c) ? (c.uncondFirst ? ['uncond', 'cond'] : ['cond', 'uncond']) : ['cond'];
  return usesPerturbation(g) ? [...guided, 'perturbed'] : guided;
}

/** How many blocks of `images` rows one model call has. */
export const branchCount = (g: GuidancePlan, c = DIFFUSERS_GUIDANCE): number => branches(g, c).length;

/** Which prompt row each batch row reads: the negative prompt for the unconditional block, else the prompt. */
export function promptRows(g: GuidancePlan, images: number, rows: { prompt: number; negative: number }, c = DIFFUSERS_GUIDANCE): number[] {
  return branches(g, c).flatMap((b) => Array<number>(images).fill(b === 'uncond' ? rows.negative : rows.prompt));
}

/** The latents `x` repeated once per branch. */
export function batchRows(g: GuidancePlan, x: Float32Array, c = DIFFUSERS_GUIDANCE): Float32Array {
  const n = branchCount(g, c);
  const out = new Float32Array(x.length * n);
  for (let b = 0; b < n; b++) out.set(x, b * x.length);
  return out;
}

/** uncond + cfg·(cond − uncond) + pag·(cond − perturbed), from the model's batched output (`size` values per branch). */
export function combine(g: GuidancePlan, out: Float32Array, size: number, c = DIFFUSERS_GUIDANCE): Float32Array {
  const order = branches(g, c);
  const block = (b: Branch) => {
    const i = order.indexOf(b);
    return i < 0 ? undefined : out.subarray(i * size, (i + 1) * size);
  };
  const cond = block('cond')!;
  const uncond = block('uncond');
  const perturbed = block('perturbed');
  const { round } = c;
  const cfg = round(g.cfg);
  const pag = round(g.pag);
  const r = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    let v = uncond ? round(uncond[i] + round(cfg * round(cond[i] - uncond[i]))) : cond[i];
    if (perturbed) v = round(v + round(pag * round(cond[i] - perturbed[i])));
    r[i] = v;
  }
  return r;
}
