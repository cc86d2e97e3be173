// The SDXL family's LinFusion HighRes and SuperRes (`--hires-mode highres|superres`, pipelines/recipes/sdxl-hires):
// the request checked against the sizes and sampler the reference pipelines take, progress per stage and per
// VAE tile, and every stage recorded for the metadata.
import { BadRequestError, DUAL_BRANCH_DEFAULTS, type GenerateOptions, type GenerateRequest, type GenerateResult, type LadderStage, type ResolvedSettings } from '../jobs/api.ts';
import type { RgbImage } from '../metadata/encode-png.ts';
import { vaePreviewer } from '../previews/previewer.ts';
import type { TaesdName } from '../previews/taesd.ts';
import { readRgb8 } from '../recipes/images.ts';
import type { SdPipeline } from '../recipes/sd/pipeline.ts';
import { drawHighres, highresStages } from '../recipes/sdxl-hires/highres.ts';
import type { DualBranchParameters } from '../recipes/sdxl-hires/dual-branch.ts';
import type { DualBranchHooks, DualBranchResult, DualBranchRun } from '../recipes/sdxl-hires/run.ts';
import { checkHighresSize } from '../recipes/sdxl-hires/sizes.ts';
import { drawSuperres, superresStages } from '../recipes/sdxl-hires/superres.ts';
import { embeddingsUsed, readEmbedding } from '../text/embeddings.ts';
import { checkLadderMemory, ladderProgress } from './sd-ladder.ts';

/** The UNet's native latent size (its config's sample_size): HighRes's base long side, SuperRes's dilation unit. */
function nativeLatent(pipeline: SdPipeline): number {
  const size = (pipeline.sources.unetConfig as { sample_size?: unknown }).sample_size;
  if (typeof size !== 'number' || !(size > 0)) throw new BadRequestError(`${pipeline.sources.path}: its UNet config gives no sample_size, which LinFusion's HighRes and SuperRes size their stages by`);
  return size;
}

type Draw = (pipeline: SdPipeline, run: DualBranchRun, parameters: DualBranchParameters & { upscaleStrength: number }, hooks: DualBranchHooks) => Promise<DualBranchResult>;

function planHighres(width: number, height: number, native: number, steps: number, upscaleStrength: number): { stages: LadderStage[]; draw: Draw } {
  const sizes = checkHighresSize(width, height, native);
  if (typeof sizes === 'string') throw new BadRequestError(sizes);
  return { stages: highresStages(sizes, steps, upscaleStrength), draw: (pipeline, run, parameters, hooks) => drawHighres(pipeline, run, sizes, parameters, hooks) };
}

async function planSuperres(request: GenerateRequest, native: number, steps: number, upscaleStrength: number): Promise<{ stages: LadderStage[]; draw: Draw }> {
  let input: RgbImage;
  try {
    input = await readRgb8(request.initImage!);
  } catch (e) {
    throw new BadRequestError((e as Error).message);
  }
  const { width, height, strengths } = request.hires!;
  const stages = superresStages(input, width, height, { steps, nativeLatent: native, upscaleStrength, strengths });
  if (typeof stages === 'string') throw new BadRequestError(stages);
  return { stages, draw: (pipeline, run, parameters, hooks) => drawSuperres(pipeline, run, input, stages, parameters, hooks) };
}

export async function generateDualBranch(pipeline: SdPipeline, request: GenerateRequest, settings: ResolvedSettings, options: GenerateOptions, taesd: TaesdName): Promise<Pick<GenerateResult, 'images' | 'settings' | 'ep' | 'timings' | 'stages' | 'notes'>> {
  const hires = request.hires!;
  if (request.sampler !== undefined && request.sampler !== 'euler') {
    throw new BadRequestError(`--hires-mode ${hires.mode} steps with Euler, as LinFusion's SDXL pipelines do (their dual-branch loop re-enters the scheduler at each step): leave out --sampler or give --sampler euler`);
  }
  const used = { ...settings, sampler: 'euler' as const };
  const d = DUAL_BRANCH_DEFAULTS;
  const parameters = {
    cosineScale1: hires.cosineScale1 ?? d.cosineScale1,
    cosineScale2: hires.cosineScale2 ?? d.cosineScale2,
    cosineScale3: hires.cosineScale3 ?? d.cosineScale3,
    gaussianSigma: hires.gaussianSigma ?? d.gaussianSigma,
    upscaleStrength: hires.upscaleStrength ?? d.upscaleStrength,
  };
  const widths = pipeline.sources.textConfigs.map((c) => c.hiddenSize);
  const native = nativeLatent(pipeline);
  const { stages, draw } = hires.mode === 'highres' ? planHighres(hires.width, hires.height, native, used.steps, parameters.upscaleStrength) : await planSuperres(request, native, used.steps, parameters.upscaleStrength);
  // A dual-branch step is two UNet passes: planned as a ladder stage of twice the steps.
  const planned = stages.map((s) => (s.dilation ? { ...s, steps: 2 * s.steps } : s));
  const plan = checkLadderMemory(pipeline, request, used.cfg, planned, hires.mode);
  const run: DualBranchRun = {
    prompt: request.prompt, negative: request.negative, steps: used.steps, cfg: used.cfg, seed: request.seed, attention: request.attention, clipSkip: request.clipSkip, signal: options.signal,
    embeddings: request.embeddingsDir ? embeddingsUsed(request.embeddingsDir, [request.prompt, request.negative]).map((f) => readEmbedding(f, widths)) : undefined,
    memory: plan.memory,
  };
  const notes = [plan.note];
  const progress = ladderProgress(stages, () => vaePreviewer(pipeline.vae, taesd, { previews: options.previews, modelsDir: request.modelsDir }), options);
  const hooks: DualBranchHooks = { onStep: progress.onStep, onTile: progress.onTile, onStageDone: (i, image) => progress.onStageDone(i, [image]) };
  const t0 = performance.now();
  const r = await draw(pipeline, run, parameters, hooks);
  if (hires.mode === 'highres' && (request.width !== undefined || request.height !== undefined)) notes.push(`--hires-mode highres draws its base at ${stages[0].width}×${stages[0].height} (long side the model's native size): --width/--height were not used`);
  return {
    images: [{ ...r.image, seed: request.seed, batchIndex: 0 }],
    settings: { ...used, width: r.image.width, height: r.image.height },
    ep: pipeline.provider,
    timings: { [hires.mode]: performance.now() - t0 },
    stages: r.stages,
    notes,
  };
}
