// One stage of LinFusion's SDXL HighRes / SuperRes (pipeline_highres_sdxl.py, pipeline_superres_sdxl.py):
// the init image resized with Pillow's default filter and VAE-encoded, then per Euler step
//   1. the skip residual: z ← (1 − c1)·z + c1·noised(z_init, t), c1 = cf^cosineScale1, cf = ½(1 + cos(π(T − t)/T));
//   2. the plain branch: CFG UNet on z, an Euler step gives z1;
//   3. the dilated branch: z Gaussian-blurred (kernel 2r − 1, σ = gaussianSigma·(0.99·cf^cosineScale3 + 0.01)),
//      renormalised to z's per-channel mean/std, through the UNet with every convolution dilated by r; an Euler
//      step from the un-blurred z gives z2;
//   4. z ← (1 − c2)·z1 + c2·z2, c2 = cf^cosineScale2;
// then z renormalised to the anchor statistics and decoded.
import { attentionSchedule } from '../../attention/registry.ts';
import type { Attention } from '../../attention/options.ts';
import type { TorchGenerator } from '../../random/torch-randn.ts';
import { getSampler, type SchedulerConfig } from '../../samplers/index.ts';
import { karrasX0 } from '../../samplers/prediction.ts';
import type { PredictionType } from '../../samplers/config.ts';
import { scaleModelInput } from '../../samplers/sigma-plan.ts';
import { toRgb8 } from '../images.ts';
import type { RgbImage } from '../../metadata/encode-png.ts';
import { pilResizeBicubic } from '../hires/pil-resize.ts';
import type { EncodedText, LatentShape, SdPipeline } from '../sd/pipeline.ts';
import { gaussianBlur } from './gaussian-blur.ts';
import type { StageMemory } from '../hires/memory-plan.ts';
import { channelStats, renormalise, type ChannelStats } from './latent-stats.ts';

const f32 = Math.fround;

/** The loop's parameters, named and defaulted as the reference pipelines' arguments. */
export interface DualBranchParameters {
  cosineScale1: number;
  cosineScale2: number;
  cosineScale3: number;
  gaussianSigma: number;
}

export interface DualBranchStage {
  width: number;
  height: number;
  /** Denoising strength (recorded) and the steps it runs: the schedule's last ones, ceil(steps · strength). */
  strength: number;
  steps: number;
  /** Convolution dilation of the second branch; the blur kernel is 2·dilation − 1. */
  dilation: number;
  /** The memory plan's choices for the stage (default: the UNet whole, the VAE's own tiles). */
  memory?: StageMemory;
}

export interface StageContext {
  pipeline: SdPipeline;
  text: EncodedText;
  steps: number;
  cfg: number;
  seed: number | bigint;
  attention?: Attention;
  parameters: DualBranchParameters;
  generator: TorchGenerator;
  /**
   * The reference scales the first step's plain-branch input with the scheduler's leftover step index: the last
   * sigma (0) when a loop ran before on the same scheduler (HighRes stages), the step's own on a fresh one (SuperRes).
   */
  afterEarlierLoop: boolean;
  /**
   * How the reference's `torch.randn_like(latents)` fills the stage noise on the CPU: HighRes's encoded latents
   * come out of the VAE channels-last (torch's serial fill in that order), SuperRes's are made contiguous by
   * its `repeat` (torch's vectorised fill).
   */
  noiseLayout: 'contiguous' | 'channels-last';
  signal?: AbortSignal;
  onStep?: (step: number, total: number, latents: Float32Array) => void | Promise<void>;
  onTile?: (phase: 'encode' | 'decode', done: number, total: number) => void;
}

export interface StageResult {
  image: RgbImage;
  /** The latents after every step. */
  latentsPerStep: Float32Array[];
  /** The latents the VAE decoded (renormalised to the anchor). */
  decoded: Float32Array;
}

/**
 * One stage from an 8-bit image: resize, encode (one posterior draw), one noise draw, the dual-branch loop,
 * the renormalisation to `anchor` (absent: the statistics of the encoded input, as SuperRes does), decode.
 */
export async function dualBranchStage(input: RgbImage, stage: DualBranchStage, c: StageContext, anchor?: ChannelStats): Promise<StageResult> {
  const { pipeline } = c;
  const l: LatentShape = { images: 1, channels: pipeline.latentChannels, height: stage.height / 8, width: stage.width / 8 };
  const resized = pilResizeBicubic(input, stage.width, stage.height);
  const plane = stage.width * stage.height;
  const planes = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) for (let ch = 0; ch < 3; ch++) planes[ch * plane + p] = resized.pixels[p * 3 + ch] / 255;
  const initLatents = await pipeline.encodeInit(planes, l, c.generator, c.onTile, stage.memory);
  const shape = [1, l.channels, l.height, l.width] as const;
  const noise = c.noiseLayout === 'channels-last' ? c.generator.randnChannelsLast(shape) : c.generator.randn(shape);
  const latentsPerStep = await denoise(initLatents, noise, l, stage, c);
  const decoded = renormalise(latentsPerStep[latentsPerStep.length - 1], l, anchor ?? channelStats(initLatents, l));
  const images = await pipeline.decode(decoded, l, c.onTile, stage.memory);
  return { image: toRgb8(images, 0, stage.width, stage.height), latentsPerStep, decoded };
}

async function denoise(x0: Float32Array, noise: Float32Array, l: LatentShape, stage: DualBranchStage, c: StageContext): Promise<Float32Array[]> {
  const config = c.pipeline.sources.scheduler.config as SchedulerConfig;
  const plan = getSampler('euler').plan(config, c.steps);
  const sigmas = plan.sigmas!;
  const trainSteps = Number(config.num_train_timesteps ?? 1000);
  const prediction = String(config.prediction_type ?? 'epsilon') as PredictionType;
  const start = c.steps - stage.steps;
  const total = plan.timesteps.length - start;
  const schedule = attentionSchedule(c.attention ?? { kind: 'softmax' }, c.seed);
  const p = c.parameters;
  const out: Float32Array[] = [];
  let x = x0.map((v, i) => v + sigmas[start] * noise[i]);
  for (let i = 0; i < total; i++) {
    c.signal?.throwIfAborted();
    const k = start + i;
    const t = plan.timesteps[k];
    const [sigma, next] = [sigmas[k], sigmas[k + 1]];
    const cf = f32(0.5 * f32(1 + f32(Math.cos(f32(f32(f32(Math.PI) * f32(trainSteps - t)) / trainSteps)))));
    const c1 = cf ** p.cosineScale1;
    const z = x.map((v, j) => v * (1 - c1) + (x0[j] + sigma * noise[j]) * c1);
    const evaluate = (input: Float32Array, inputSigma: number, dilation: number) =>
      c.pipeline.guidedOutput(c.text, l, scaleModelInput(input, inputSigma), t, { cfg: c.cfg, attention: c.attention, phase: schedule(i, total), dilation, memory: stage.memory?.unet });
    const euler = (output: Float32Array) => {
      const x0Estimate = karrasX0(prediction, z, output, sigma);
      return z.map((v, j) => v + ((v - x0Estimate[j]) / sigma) * (next - sigma));
    };
    // The reference calls scale_model_input before the plain branch's scheduler step and again after it, when the
    // step index has moved on: the plain branch is scaled with this step's sigma (on a stage's first step, with the
    // index an earlier loop left: see afterEarlierLoop), the dilated branch with the next step's.
    const z1 = euler(await evaluate(z, i === 0 && c.afterEarlierLoop ? sigmas[sigmas.length - 1] : sigma, 1));
    const c3 = 0.99 * cf ** p.cosineScale3 + 1e-2;
    const blurred = renormalise(gaussianBlur(z, l, 2 * stage.dilation - 1, p.gaussianSigma * c3), l, channelStats(z, l));
    const z2 = euler(await evaluate(blurred, next, stage.dilation));
    const c2 = cf ** p.cosineScale2;
    x = z1.map((v, j) => (1 - c2) * v + c2 * z2[j]);
    out.push(x);
    await c.onStep?.(i, total, x);
  }
  return out;
}
