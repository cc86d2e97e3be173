// LinFusion's SDXL HighRes text-to-image (pipeline_highres_sdxl.py): an SDXL image at the base size (long side
// native), its latents' per-channel mean/std kept as the anchor, then per scale s = 1..n the previous image ×2
// through one dual-branch stage (./dual-branch.ts) at strength linspace(upscaleStrength, 0, n + 1)[s − 1] with
// dilation 2^s. One generator runs through all stages; every stage is conditioned on the final size.
import { TorchGenerator } from '../../random/torch-randn.ts';
import { toRgb8 } from '../images.ts';
import type { SdGenerateOptions, SdPipeline } from '../sd/pipeline.ts';
import { dualBranchStage, type DualBranchParameters } from './dual-branch.ts';
import { channelStats } from './latent-stats.ts';
import type { HighresSizes } from './sizes.ts';
import type { LadderStage } from '../../jobs/api.ts';
import type { DualBranchHooks, DualBranchResult, DualBranchRun } from './run.ts';

const f32 = Math.fround;

/** torch.linspace(start, end, count) in float32: from the start for the first half, from the end for the rest. */
function linspaceF32(start: number, end: number, count: number): number[] {
  const step = f32((end - start) / (count - 1));
  return Array.from({ length: count }, (_, i) => (i < count / 2 ? f32(f32(start) + f32(step * i)) : f32(f32(end) - f32(step * (count - 1 - i)))));
}

/** Each scale's strength and steps: the strengths fall linearly to 0, steps = ceil(steps · strength) in float32. */
export function highresStages(sizes: HighresSizes, steps: number, upscaleStrength: number): LadderStage[] {
  const strengths = linspaceF32(upscaleStrength, 0, sizes.scales + 1);
  const stages: LadderStage[] = [{ ...sizes.base, steps }];
  for (let s = 1; s <= sizes.scales; s++) {
    const strength = strengths[s - 1];
    stages.push({ width: sizes.base.width * 2 ** s, height: sizes.base.height * 2 ** s, strength, steps: Math.min(Math.ceil(f32(steps * strength)), steps), dilation: 2 ** s });
  }
  return stages;
}

export async function drawHighres(pipeline: SdPipeline, run: DualBranchRun, sizes: HighresSizes, parameters: DualBranchParameters & { upscaleStrength: number }, hooks: DualBranchHooks = {}): Promise<DualBranchResult> {
  const stages = highresStages(sizes, run.steps, parameters.upscaleStrength);
  const generator = new TorchGenerator(run.seed);
  const conditioning = { sizeConditioning: sizes.actual };
  const base: SdGenerateOptions = { ...run, ...conditioning, ...sizes.base, unetMemory: run.memory?.[0]?.unet, vaeTiles: run.memory?.[0], sampler: 'euler', images: 1, generator, onStep: hooks.onStep?.(0), onTile: hooks.onTile?.(0) };
  const first = await pipeline.generate(base);
  const baseLatents = first.latentsPerStep[first.latentsPerStep.length - 1];
  const anchor = channelStats(baseLatents, { images: 1, channels: pipeline.latentChannels, height: sizes.base.height / 8, width: sizes.base.width / 8 });
  let image = toRgb8(first.images, 0, first.width, first.height);
  const latentsPerStage = [first.latentsPerStep];
  const decodedPerStage = [baseLatents];
  const text = await pipeline.encodeText({ ...run, ...sizes.base, ...conditioning }, { cfg: run.cfg, pag: 0 }, 1);
  for (const [index, stage] of stages.entries()) {
    if (!index) continue;
    await hooks.onStageDone?.(index - 1, image);
    const context = { ...run, pipeline, text, parameters, generator, afterEarlierLoop: true, noiseLayout: 'channels-last' as const, onStep: hooks.onStep?.(index), onTile: hooks.onTile?.(index) };
    const r = await dualBranchStage(image, { ...stage, strength: stage.strength!, dilation: stage.dilation!, memory: run.memory?.[index] }, context, anchor);
    latentsPerStage.push(r.latentsPerStep);
    decodedPerStage.push(r.decoded);
    image = r.image;
  }
  return { image, stages, latentsPerStage, decodedPerStage };
}
