// The Stable Diffusion families' LinFusion ladder around its recipe (pipelines/recipes/sd/ladder.ts): the
// memory plan checked before anything runs, and the job's progress per stage, per VAE tile and per finished stage.
import { BadRequestError, type GenerateOptions, type GenerateRequest, type LadderStage } from '../jobs/api.ts';
import { budgetAboveDevice, describePlan, planLadder, refusal, unetSizes, type PlanInput, type StageMemory } from '../recipes/hires/memory-plan.ts';
import { stepPreviews, type LatentPreviewer } from '../previews/previewer.ts';
import type { SdPipeline } from '../recipes/sd/pipeline.ts';
import { parameterCount } from '../recipes/sd/residency.ts';
import { deviceMemoryBytes } from '../runtime/device-memory.ts';
import { modelDtype } from '../runtime/kernels.ts';

/**
 * The ladder's memory and time plan: a refusal when a stage will not fit, else a note with the estimate, named
 * `label` (HighRes and SuperRes stages hold what a ladder stage holds; their steps count two UNet passes each),
 * and how each stage runs (the UNet's pieces, split and rows, the VAE's tile).
 */
export function checkLadderMemory(pipeline: SdPipeline, request: GenerateRequest, cfg: number, stages: readonly LadderStage[], label = 'ladder'): { note: string; memory: StageMemory[] } {
  const input: PlanInput = {
    unet: unetSizes(pipeline.sources.unet, pipeline.unetConfig),
    otherParams: parameterCount(pipeline.sources.vae) + pipeline.sources.textEncoders.reduce((a, t) => a + parameterCount(t), 0),
    stages,
    rows: (cfg > 1 ? 2 : 1) * request.batch,
    images: request.batch,
    attention: request.attention.kind,
    provider: request.ep,
    bytesPerValue: modelDtype(pipeline.provider) === 'float16' ? 2 : 4,
    availableBytes: deviceMemoryBytes(request.ep),
    budgetBytes: request.hires?.memoryGiB && request.hires.memoryGiB * 2 ** 30,
  };
  const plan = planLadder(input);
  const refused = refusal(input, plan);
  if (refused) throw new BadRequestError(refused);
  const estimate = [describePlan(plan, request.ep), budgetAboveDevice(input)].filter(Boolean).join('; ');
  const note = request.attention.kind === 'linfusion' ? `${label} ${estimate}` : `${label} without LinFusion (${request.attention.kind} attention: time grows with the square of the tokens), ${estimate}`;
  return { note, memory: plan.stages.map((s) => ({ unet: s.unet, vaeTile: s.vaeTile, vaeTilesPerRun: s.vaeTilesPerRun, sharedArena: s.sharedArena })) };
}

/** A ladder's progress: steps and VAE tiles per stage, and each finished stage's images. */
export function ladderProgress(stages: readonly LadderStage[], previewer: () => LatentPreviewer, options: GenerateOptions) {
  const report = options.onProgress;
  const stage = (index: number) => ({ index, count: stages.length, width: stages[index].width, height: stages[index].height, strength: stages[index].strength });
  return {
    onStep: (index: number) =>
      stepPreviews(options.previews, previewer, report && ((p) => report({ ...p, stage: stage(index) })), stages[index].height / 8, stages[index].width / 8),
    onTile: (index: number) => (phase: 'encode' | 'decode', done: number, total: number) => report?.({ phase: `${phase} tile`, step: done, total, stage: stage(index) }),
    onStageDone: (index: number, images: { width: number; height: number; pixels: Uint8Array }[]) => {
      images.forEach((image, batchIndex) => report?.({ phase: 'stage', step: index + 1, total: stages.length, stage: stage(index), stageImage: { ...image, batchIndex } }));
    },
  };
}
