// LinFusion's SDXL SuperRes (pipeline_superres_sdxl.py): one dual-branch stage (./dual-branch.ts) from a given
// image resized straight to the output size, dilation ceil(long side / native), the anchor statistics from the
// encoded input. Its low-memory notebook (superres_sdxl_low_w_mem.ipynb) reaches large sizes by chaining ×2
// calls at falling strengths, re-seeding the generator each call: a power-of-two scale of 4 or more runs that chain.
import { TorchGenerator } from '../../random/torch-randn.ts';
import type { RgbImage } from '../../metadata/encode-png.ts';
import type { SdPipeline } from '../sd/pipeline.ts';
import { dualBranchStage, type DualBranchParameters } from './dual-branch.ts';
import { superresDilation } from './sizes.ts';
import type { LadderStage } from '../../jobs/api.ts';
import type { DualBranchHooks, DualBranchResult, DualBranchRun } from './run.ts';

/** The low-memory notebook's strengths for its ×2 steps (1024×512 → … → 16384×8192); later steps keep the last. */
export const SUPERRES_CHAIN_STRENGTHS = [0.32, 0.24, 0.16, 0.08] as const;

/**
 * The stages from `input` to width × height: ×2 steps when the scale is a power of two (the first at
 * `upscaleStrength`, then the notebook's), else one stage at `upscaleStrength`; `strengths` gives each stage's
 * instead. Returns a sentence saying what is wrong instead.
 */
export function superresStages(input: { width: number; height: number }, width: number, height: number, o: { steps: number; nativeLatent: number; upscaleStrength: number; strengths?: readonly number[] }): LadderStage[] | string {
  const ratio = width / input.width;
  const doublings = Math.round(Math.log2(ratio));
  const chain = doublings >= 1 && 2 ** doublings === ratio && height === input.height * ratio;
  const sizes = chain ? Array.from({ length: doublings }, (_, k) => ({ width: input.width * 2 ** (k + 1), height: input.height * 2 ** (k + 1) })) : [{ width, height }];
  if (o.strengths && o.strengths.length !== sizes.length) {
    return `--hires-strengths gives ${o.strengths.length} strengths for ${sizes.length} SuperRes stage${sizes.length > 1 ? 's' : ''} (${sizes.map((s) => `${s.width}x${s.height}`).join(' → ')}): give ${sizes.length}`;
  }
  const stages: LadderStage[] = [];
  for (const [k, size] of sizes.entries()) {
    const strength = o.strengths?.[k] ?? (k === 0 ? o.upscaleStrength : SUPERRES_CHAIN_STRENGTHS[Math.min(k, SUPERRES_CHAIN_STRENGTHS.length - 1)]);
    const dilation = superresDilation(size.width, size.height, o.nativeLatent);
    if (typeof dilation === 'string') return dilation;
    const steps = Math.min(Math.ceil(o.steps * strength), o.steps);
    stages.push({ ...size, strength, steps, dilation });
  }
  return stages;
}

export async function drawSuperres(pipeline: SdPipeline, run: DualBranchRun, input: RgbImage, stages: readonly LadderStage[], parameters: DualBranchParameters, hooks: DualBranchHooks = {}): Promise<DualBranchResult> {
  let image = input;
  const latentsPerStage: Float32Array[][] = [];
  const decodedPerStage: Float32Array[] = [];
  for (const [index, stage] of stages.entries()) {
    if (index) await hooks.onStageDone?.(index - 1, image);
    const text = await pipeline.encodeText({ ...run, ...stage }, { cfg: run.cfg, pag: 0 }, 1);
    const generator = new TorchGenerator(run.seed);
    const context = { ...run, pipeline, text, parameters, generator, afterEarlierLoop: false, noiseLayout: 'contiguous' as const, onStep: hooks.onStep?.(index), onTile: hooks.onTile?.(index) };
    const r = await dualBranchStage(image, { ...stage, strength: stage.strength!, dilation: stage.dilation!, memory: run.memory?.[index] }, context);
    latentsPerStage.push(r.latentsPerStep);
    decodedPerStage.push(r.decoded);
    image = r.image;
  }
  return { image, stages: [...stages], latentsPerStage, decodedPerStage };
}
