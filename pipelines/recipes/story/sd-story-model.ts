// The StoryModel of Stable Diffusion 1.x/2.x/XL: CLIP text (A1111 weighting, 75-token chunks), the
// scheduler samplers with CFG in diffusers' order [uncond, cond], the UNet with the cross-attention
// probe (probe.ts) or IR attention (ir-unet.ts), the VAE. References are located by the attention
// maps of their words.
import type { StoryGraphOptions } from '../../attention/reposition.ts';
import { buildUNet, UNET_OUTPUT } from '../../models/unet/unet.ts';
import { TorchGenerator } from '../../random/torch-randn.ts';
import { tensor } from '../../runtime/session.ts';
import { BadRequestError } from '../../jobs/api.ts';
import { getSampler, type SchedulerConfig } from '../../samplers/index.ts';
import type { ClipTokenizer } from '../../text/clip-tokenizer.ts';
import { tokenizeWeighted } from '../../text/prompt-weights.ts';
import { toNhwc01 } from '../images.ts';
import { encodePrompts } from '../sd/conditioning.ts';
import { DIFFUSERS_GUIDANCE } from '../../guidance/cfg-pag.ts';
import { SdPipeline, type SdLoadOptions } from '../sd/pipeline.ts';
import { buildStoryUNet } from './ir-unet.ts';
import { CrossAttentionProbe, probeDownsample } from './probe.ts';
import { locateSubjects, type Story } from './story.ts';
import type { StoryDenoiser, StoryModel, StoryText } from './story-model.ts';
import type { ModelSessions } from '../../runtime/session-cache.ts';

const NATIVE: Record<string, number> = { sd1: 512, sd2: 768, sdxl: 1024 };
const LATENT_SCALE = 8;

/** The story model of a loaded SD pipeline (released with it). */
export function sdStoryModel(sd: SdPipeline, o: SdLoadOptions = {}): StoryModel {
  if (sd.inpaintingUNet) throw new BadRequestError(`${sd.sources.path}: an inpainting checkpoint (its UNet also takes a mask) cannot draw stories; use the model's regular checkpoint`);
  return new SdStoryModel(sd, o);
}

/** Loads an SD checkpoint or diffusers folder for story mode. */
export function loadSdStoryModel(path: string, o: SdLoadOptions = {}): StoryModel {
  return sdStoryModel(SdPipeline.load(path, o), o);
}

/** Positions of the first occurrence of `words` in `prompt`'s encoded rows (chunks of 77 laid end to end), or undefined. */
export function clipWordPositions(tokenizer: ClipTokenizer, prompt: string, words: string): number[] | undefined {
  const needle = tokenizer.encode(words);
  if (needle.length === 0) return undefined;
  const ids = tokenizeWeighted(tokenizer, prompt).chunks.flatMap((c) => c.ids);
  for (let start = 0; start + needle.length <= ids.length; start++) {
    if (needle.every((id, k) => ids[start + k] === id)) return needle.map((_, k) => start + k);
  }
  return undefined;
}

class SdStoryModel implements StoryModel {
  readonly sessions: ModelSessions;

  constructor(readonly sd: SdPipeline, private readonly o: SdLoadOptions) {
    this.sessions = sd.sessions.child('story').withOptions({ providers: o.providers });
  }

  get selfAttentionLayerCount(): number {
    return this.sd.layers.length;
  }

  canvas(story: Story): { width: number; height: number; sampler: Story['sampler'] } {
    const native = NATIVE[this.sd.family] ?? 512;
    return { width: story.width ?? native, height: story.height ?? native, sampler: story.sampler };
  }

  async encode(story: Story): Promise<StoryText> {
    const stages = await this.sd.textStages(story.clipSkip);
    const tokenizer = stages[0].tokenizer;
    const tokens = locateSubjects(story, (prompt, words) => clipWordPositions(tokenizer, prompt, words), { referenceWords: true });
    const prompts = [story.negative, ...story.subjects.map((s) => s.description), ...story.scenes.map((s) => s.prompt)];
    const zeroNegative = this.sd.textConditioning.zeroEmptyNegative && story.negative === '';
    const text = await encodePrompts(stages, prompts, zeroNegative ? new Set([0]) : new Set());
    return { tokens, length: text.tokens, feeds: (layout) => this.sd.textFeeds(text, layout, story.width!, story.height!), notes: [] };
  }

  private latent(story: Story): { channels: number; height: number; width: number } {
    return { channels: this.sd.latentChannels, height: story.height! / LATENT_SCALE, width: story.width! / LATENT_SCALE };
  }

  denoiser(story: Story): StoryDenoiser {
    const sampler = getSampler(story.sampler);
    const config = this.sd.sources.scheduler.config as SchedulerConfig;
    const latent = this.latent(story);
    const { order, initNoiseSigma } = sampler.plan(config, story.steps);
    return {
      latent, plan: { cfg: story.cfg, pag: 0 }, guidance: DIFFUSERS_GUIDANCE, callsPerStep: order, output: UNET_OUTPUT,
      sample: (seed, predict, onStep, signal) => {
        const generator = new TorchGenerator(seed);
        const x = generator.randn([1, latent.channels, latent.height, latent.width]);
        if (initNoiseSigma !== 1) for (let i = 0; i < x.length; i++) x[i] *= initNoiseSigma;
        return sampler.sample({
          model: (xIn, timestep, sigma) => predict(xIn, sigma, timestep),
          x, config, steps: story.steps, generator,
          onStep: (i, _x, total) => {
            onStep(i + 1, total);
            signal?.throwIfAborted();
          },
        });
      },
      inputs: (sample, rows, timestep) => ({
        sample: tensor(sample, [rows, latent.channels, latent.height, latent.width]),
        timestep: tensor(new Float32Array(rows).fill(timestep), [rows]),
      }),
    };
  }

  probedGraph(story: Story, textLength: number, rows: number) {
    const probe = new CrossAttentionProbe(probeDownsample(this.sd.layers));
    const { height, width } = this.latent(story);
    const { graph } = buildUNet(this.sd.sources.unet, this.sd.unetConfig, { batch: rows, height, width, textLength, dtype: this.o.dtype, crossAttention: probe.hook });
    probe.finish(graph);
    return graph;
  }

  storyGraph(story: Story, textLength: number, o: StoryGraphOptions) {
    const { height, width } = this.latent(story);
    const unet = buildStoryUNet(this.sd.sources.unet, this.sd.unetConfig, { ...o, height, width, textLength, dtype: this.o.dtype });
    return { graph: unet.graph, grids: unet.inputs.grids };
  }

  probeGrid(story: Story): { height: number; width: number } {
    const d = probeDownsample(this.sd.layers);
    const latent = this.latent(story);
    return { height: Math.ceil(latent.height / d), width: Math.ceil(latent.width / d) };
  }

  async decode(latents: Float32Array, story: Story): Promise<Float32Array> {
    const { channels, height: h, width: w } = this.latent(story);
    const decoded = await this.sd.vae.decode({ data: latents, dims: [1, channels, h, w] });
    return toNhwc01(decoded.data, 1, story.height!, story.width!);
  }

  async encodePixels(pixels: Float32Array, story: Story): Promise<Float32Array> {
    return (await this.sd.vae.encode({ data: pixels, dims: [1, 3, story.height!, story.width!] })).latents.data;
  }

  release(): Promise<void> {
    return this.sd.release();
  }
}
