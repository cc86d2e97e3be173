// Stable Diffusion 1.x / 2.x / XL, read top to bottom: load → encode prompts → noise → denoise with
// CFG (+ PAG) → decode. txt2img and img2img share the loop; the attention variant is chosen when the
// UNet graph is built.
import { loadPipelineSources, type LoadOptions, type PipelineSources } from '../../checkpoints/index.ts';
import { ClipTextEncoder } from '../../models/clip/encoder.ts';
import { parseUNetConfig, type UNetConfig } from '../../models/unet/config.ts';
import { buildUNet, UNET_OUTPUT } from '../../models/unet/unet.ts';
import { selfAttentionLayers, matchPagLayers } from '../../models/unet/layers.ts';
import { Vae } from '../../models/vae/vae.ts';
import { headWeightsData, wholeLayerPicks, type HeadPick, HEAD_WEIGHTS_INPUT } from '../../attention/head-perturbation.ts';
import type { SelfAttentionLayer, SelfAttentionVariant } from '../../attention/self-attention.ts';
import { softmaxAttention } from '../../attention/softmax.ts';
import { LinFusionModules, linfusionAttention } from '../../attention/linfusion.ts';
import { AgentAttention, agentSdOptionsForStep } from '../../attention/agent.ts';
import { ClipTokenizer } from '../../text/clip-tokenizer.ts';
import { TorchGenerator } from '../../random/torch-randn.ts';
import { MT19937 } from '../../random/mt19937.ts';
import { getSampler, img2imgStartIndex, type SchedulerConfig } from '../../samplers/index.ts';
import { Session, tensor, type Provider } from '../../runtime/session.ts';
import type { ort } from '../../runtime/session.ts';
import { encodePrompts, type Conditioning, type TextEncoderStage } from './conditioning.ts';
import { batchRows, branchCount, combine, usesCfg, usesPerturbation, type GuidancePlan } from './guidance.ts';
import { planAtTimestep } from '../../guidance/adaptive-scale.ts';
import { applyLoras, type AppliedLora, type LoraRequest } from '../../lora/apply.ts';

export type AttentionChoice = { kind: 'softmax' } | { kind: 'agent' } | { kind: 'linfusion'; path: string };

export interface SdGenerateOptions {
  prompt: string;
  negative?: string;
  steps: number;
  cfg: number;
  sampler: string;
  seed: number | bigint;
  width: number;
  height: number;
  /** Images per prompt; their noise comes from the one generator, as diffusers draws it. */
  images?: number;
  /** img2img: [1, 3, height, width] in [0, 1]. */
  initImage?: Float32Array;
  strength?: number;
  /** PAG at layer level (diffusers' names: `mid`, `down_blocks.1`, …). */
  pag?: { scale: number; layers: readonly string[] };
  /** Head-level perturbation (SoftPAG): overrides `pag.layers` when given. */
  heads?: { scale: number; picks: readonly HeadPick[] };
  /** diffusers' `pag_adaptive_scale`: the PAG / head scale falls by this much per timestep from t = 1000 (0 = constant). */
  pagAdaptiveScale?: number;
  attention?: AttentionChoice;
  /** A1111's clip skip: 1 = last layer. */
  clipSkip?: number;
  onStep?: (step: number, total: number, latents: Float32Array) => void | Promise<void>;
  signal?: AbortSignal;
}

export interface SdResult {
  /** [images, height, width, 3] in [0, 1], as diffusers' numpy output. */
  images: Float32Array;
  count: number;
  width: number;
  height: number;
  /** The latents after every step (for parity checks and previews). */
  latentsPerStep: Float32Array[];
  timings: Record<string, number>;
  provider: Provider;
}

export interface SdLoadOptions extends LoadOptions {
  providers?: readonly Provider[];
  dtype?: 'float32' | 'float16';
  /** LoRA / LyCORIS files merged into the weights when the sessions are built. */
  loras?: readonly LoraRequest[];
}

const LATENT_SCALE = 8;

export class SdPipeline {
  private readonly unetSessions = new Map<string, Promise<{ session: Session; agent?: AgentAttention }>>();
  private encoders?: Promise<TextEncoderStage[]>;
  readonly unetConfig: UNetConfig;
  readonly layers: SelfAttentionLayer[];
  readonly vae: Vae;

  private constructor(readonly sources: PipelineSources, private readonly o: SdLoadOptions, readonly loras: readonly AppliedLora[] = []) {
    this.unetConfig = parseUNetConfig(sources.unetConfig, `${sources.path} (unet config)`);
    this.layers = selfAttentionLayers(this.unetConfig);
    this.vae = new Vae(sources.vae, sources.vaeConfig, { session: { providers: o.providers } });
  }

  static load(path: string, o: SdLoadOptions = {}): SdPipeline {
    const { sources, applied } = applyLoras(loadPipelineSources(path, o), o.loras ?? []);
    return new SdPipeline(sources, o, applied);
  }

  /** Self-attention layer indices for diffusers' PAG layer names (`mid`, `down_blocks.1`, …). */
  matchPagLayers(names: readonly string[]): number[] {
    return matchPagLayers(this.layers, names);
  }

  get family(): string {
    return this.sources.family;
  }

  /** The text encoders with their tokenizers (also used by recipes built on this pipeline, e.g. story mode). */
  textStages(clipSkip: number): Promise<TextEncoderStage[]> {
    const key = clipSkip;
    if (!this.encoders || this.encodersSkip !== key) {
      this.encodersSkip = key;
      const sdxl = this.sources.family === 'sdxl';
      this.encoders = Promise.all(this.sources.textEncoders.map(async (source, i) => {
        const cfg = this.sources.textConfigs[i];
        const last = i === this.sources.textEncoders.length - 1;
        const encoder = await ClipTextEncoder.create(source, cfg, {
          // SDXL conditions on the penultimate layer without the final LayerNorm (diffusers' hidden_states[-2]).
          skip: (sdxl ? 1 : 0) + clipSkip - 1,
          normalize: !sdxl,
          pooled: sdxl && last,
          session: { providers: this.o.providers },
        });
        const tokenizer = ClipTokenizer.fromFolder(this.sources.tokenizerDirs[i], { pad: this.sources.tokenizerPads[i] });
        return { tokenizer, encoder, width: cfg.hiddenSize };
      }));
    }
    return this.encoders;
  }
  private encodersSkip?: number;

  private attentionVariant(choice: AttentionChoice): { variant: SelfAttentionVariant; agent?: AgentAttention } {
    switch (choice.kind) {
      case 'softmax': return { variant: softmaxAttention() };
      case 'linfusion': return { variant: linfusionAttention(LinFusionModules.load(choice.path)) };
      case 'agent': {
        const agent = new AgentAttention();
        return { variant: agent, agent };
      }
    }
  }

  private unet(rows: number, h: number, w: number, tokens: number, perturbedRows: number, attention: AttentionChoice, agentStep?: { step: number; steps: number }) {
    const agentOpts = attention.kind === 'agent' && agentStep ? agentSdOptionsForStep(agentStep.step, agentStep.steps) : undefined;
    const key = JSON.stringify([rows, h, w, tokens, perturbedRows, attention, agentOpts]);
    let entry = this.unetSessions.get(key);
    if (!entry) {
      entry = (async () => {
        const chosen = attention.kind === 'agent' ? { variant: new AgentAttention(agentOpts), agent: undefined as AgentAttention | undefined } : this.attentionVariant(attention);
        if (attention.kind === 'agent') chosen.agent = chosen.variant as AgentAttention;
        const { graph } = buildUNet(this.sources.unet, this.unetConfig, {
          batch: rows, height: h, width: w, textLength: tokens, perturbedRows: perturbedRows || undefined,
          dtype: this.o.dtype, selfAttention: chosen.variant,
        });
        return { session: await Session.create(graph, { providers: this.o.providers }), agent: chosen.agent };
      })();
      entry.catch(() => this.unetSessions.delete(key));
      this.unetSessions.set(key, entry);
    }
    return entry;
  }

  /** The head selection a request perturbs (PAG layers as whole-layer picks, or explicit heads). */
  private perturbation(o: SdGenerateOptions): { scale: number; picks: readonly HeadPick[] } | undefined {
    if (o.heads && o.heads.scale > 0) return o.heads;
    if (o.pag && o.pag.scale > 0) return { scale: o.pag.scale, picks: wholeLayerPicks(this.layers, matchPagLayers(this.layers, o.pag.layers)) };
    return undefined;
  }

  async generate(o: SdGenerateOptions): Promise<SdResult> {
    const timings: Record<string, number> = {};
    const clock = (name: string, start: number) => (timings[name] = (timings[name] ?? 0) + performance.now() - start);
    if (o.width % LATENT_SCALE || o.height % LATENT_SCALE) throw new RangeError(`image size ${o.width}×${o.height} must be a multiple of ${LATENT_SCALE} on both sides`);
    const images = o.images ?? 1;
    const h = o.height / LATENT_SCALE;
    const w = o.width / LATENT_SCALE;
    const channels = this.unetConfig.inChannels;
    const size = images * channels * h * w;
    const attention = o.attention ?? { kind: 'softmax' };
    const perturb = this.perturbation(o);
    const plan: GuidancePlan = { cfg: o.cfg, pag: perturb?.scale ?? 0 };
    const sdxl = this.sources.family === 'sdxl';

    // 1. Prompts → conditioning rows in batch order [uncond?, cond, perturbed-cond?] × images.
    let t0 = performance.now();
    const stages = await this.textStages(o.clipSkip ?? 1);
    const negative = o.negative ?? '';
    const forceZeros = sdxl && negative === '';
    const text = await encodePrompts(stages, [negative, o.prompt], forceZeros ? new Set([0]) : new Set());
    const rowsOf = (row: number) => Array.from({ length: images }, () => row);
    const layout = [...(usesCfg(plan) ? rowsOf(0) : []), ...rowsOf(1), ...(usesPerturbation(plan) ? rowsOf(1) : [])];
    const feedsText = this.textFeeds(text, layout, o.width, o.height);
    clock('encode', t0);
    o.signal?.throwIfAborted();

    // 2. Initial latents: diffusers draws them (and any later noise) from one CPU generator.
    const generator = new TorchGenerator(o.seed);
    const sampler = getSampler(o.sampler);
    const config = this.sources.scheduler.config as SchedulerConfig;
    let startIndex = 0;
    let x: Float32Array;
    t0 = performance.now();
    if (o.initImage) {
      const strength = o.strength ?? 0.8;
      startIndex = img2imgStartIndex(sampler, config, o.steps, strength);
      const pixels = new Float32Array(o.initImage.length);
      for (let i = 0; i < pixels.length; i++) pixels[i] = o.initImage[i] * 2 - 1;
      const posteriorNoise = generator.randn([1, channels, h, w]);
      const encoded = await this.vae.encode({ data: pixels, dims: [1, 3, o.height, o.width] }, posteriorNoise);
      const x0 = new Float32Array(size);
      for (let i = 0; i < images; i++) x0.set(encoded.latents.data, i * encoded.latents.data.length);
      x = sampler.addNoise(config, o.steps, startIndex, x0, generator.randn([images, channels, h, w]));
    } else {
      const plan0 = sampler.plan(config, o.steps);
      x = generator.randn([images, channels, h, w]);
      if (plan0.initNoiseSigma !== 1) for (let i = 0; i < x.length; i++) x[i] *= plan0.initNoiseSigma;
    }
    clock('encode', t0);

    // 3. Denoise.
    const rows = layout.length;
    const perturbedRows = usesPerturbation(plan) ? images : 0;
    const headWeights = perturb ? tensor(headWeightsData(this.layers, perturb.picks), [this.layers.length, Math.max(...this.layers.map((l) => l.heads))]) : undefined;
    const agentRng = attention.kind === 'agent' ? new MT19937(BigInt(o.seed)) : undefined;
    const latentsPerStep: Float32Array[] = [];
    let step = 0;
    const totalSteps = sampler.plan(config, o.steps).timesteps.length - startIndex;
    let provider: Provider = 'cpu';
    t0 = performance.now();
    const final = await sampler.sample({
      model: async (xIn, timestep) => {
        o.signal?.throwIfAborted();
        const { session, agent } = await this.unet(rows, h, w, text.tokens, perturbedRows, attention, attention.kind === 'agent' ? { step, steps: totalSteps } : undefined);
        provider = session.provider;
        const feeds: Record<string, ort.Tensor> = {
          ...feedsText,
          sample: tensor(batchRows(plan, xIn), [rows, channels, h, w]),
          timestep: tensor(new Float32Array(rows).fill(timestep), [rows]),
        };
        if (headWeights) feeds[HEAD_WEIGHTS_INPUT] = headWeights;
        if (agent) Object.assign(feeds, agent.feeds(rows, agentRng));
        const out = await session.run(feeds);
        return combine(planAtTimestep(plan, o.pagAdaptiveScale, timestep), out[UNET_OUTPUT].data as Float32Array, size);
      },
      x, config, steps: o.steps, generator, startIndex,
      onStep: async (i, latents, total) => {
        step = i + 1;
        latentsPerStep.push(latents.slice());
        await o.onStep?.(i, total, latents);
        o.signal?.throwIfAborted();
      },
    });
    clock('denoise', t0);

    // 4. Decode to [0, 1] RGB, NHWC.
    t0 = performance.now();
    const decoded = await this.vae.decode({ data: final, dims: [images, channels, h, w] });
    const out = new Float32Array(images * o.height * o.width * 3);
    const plane = o.height * o.width;
    for (let n = 0; n < images; n++) {
      for (let c = 0; c < 3; c++) {
        for (let p = 0; p < plane; p++) {
          const v = decoded.data[(n * 3 + c) * plane + p] / 2 + 0.5;
          out[(n * plane + p) * 3 + c] = v < 0 ? 0 : v > 1 ? 1 : v;
        }
      }
    }
    clock('decode', t0);
    return { images: out, count: images, width: o.width, height: o.height, latentsPerStep, timings, provider };
  }

  /** The UNet's text inputs for a row layout (each entry: which conditioning row). */
  textFeeds(text: Conditioning, layout: readonly number[], width: number, height: number): Record<string, ort.Tensor> {
    const per = text.tokens * text.width;
    const hidden = new Float32Array(layout.length * per);
    layout.forEach((row, i) => hidden.set(text.hidden.subarray(row * per, (row + 1) * per), i * per));
    const feeds: Record<string, ort.Tensor> = { encoder_hidden_states: tensor(hidden, [layout.length, text.tokens, text.width]) };
    if (this.unetConfig.textTime) {
      if (!text.pooled || !text.pooledWidth) throw new Error(`${this.sources.path}: this SDXL model needs pooled text from its second text encoder, which gave none`);
      const pw = text.pooledWidth;
      const pooled = new Float32Array(layout.length * pw);
      layout.forEach((row, i) => pooled.set(text.pooled!.subarray(row * pw, (row + 1) * pw), i * pw));
      // Micro-conditioning: original size, crop top-left, target size (diffusers' _get_add_time_ids).
      const ids = new Float32Array(layout.length * 6);
      for (let i = 0; i < layout.length; i++) ids.set([height, width, 0, 0, height, width], i * 6);
      feeds.text_embeds = tensor(pooled, [layout.length, pw]);
      feeds.time_ids = tensor(ids, [layout.length, 6]);
    }
    return feeds;
  }

  async release(): Promise<void> {
    for (const e of this.unetSessions.values()) await (await e).session.release().catch(() => undefined);
    this.unetSessions.clear();
    if (this.encoders) for (const s of await this.encoders) await s.encoder.release();
    this.encoders = undefined;
    await this.vae.release();
  }
}

