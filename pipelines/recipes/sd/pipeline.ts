// Stable Diffusion 1.x / 2.x / XL, read top to bottom: encode prompts → noise → denoise with CFG
// (+ PAG) → decode. txt2img and img2img share the loop; the attention variant comes from the
// attention registry, which says which graph each step needs.
import { loadPipelineSources, type LoadOptions, type PipelineSources, type TextConditioning } from '../../checkpoints/index.ts';
import { ClipTextEncoder } from '../../models/clip/encoder.ts';
import { parseUNetConfig, type UNetConfig } from '../../models/unet/config.ts';
import { openUNetRunner, unetSessionOptions } from '../../models/unet/runner.ts';
import { WHOLE, type UNetMemory } from '../../models/unet/memory.ts';
import { runRecovering, unetRecoveryNotes } from './unet-recovery.ts';
import { dilateConvolutions } from '../../models/unet/dilate.ts';
import { selfAttentionLayers, matchPagLayers } from '../../models/unet/layers.ts';
import { Vae, type PlannedTiles } from '../../models/vae/vae.ts';
import { headWeightsData, headWeightsShape, wholeLayerPicks, type HeadPick, HEAD_WEIGHTS_INPUT } from '../../attention/head-perturbation.ts';
import type { SelfAttentionLayer, SelfAttentionVariant } from '../../attention/self-attention.ts';
import type { Attention } from '../../attention/options.ts';
import { attentionSchedule, type AttentionPhase } from '../../attention/registry.ts';
import { ClipTokenizer } from '../../text/clip-tokenizer.ts';
import { TorchGenerator } from '../../random/torch-randn.ts';
import { getSampler, img2imgStartIndex, type Sampler, type SchedulerConfig } from '../../samplers/index.ts';
import { tensor, type Provider } from '../../runtime/session.ts';
import { ModelSessions } from '../../runtime/session-cache.ts';
import { fusedKernels } from '../../runtime/kernels.ts';
import { KernelChoice, kernelPart } from '../../models/kernel-choice.ts';
import { deviceMemoryBytes } from '../../runtime/device-memory.ts';
import { recoveryNotes } from '../../runtime/result-checks.ts';
import { textResidency, type TextResidency } from './residency.ts';
import type { ort } from '../../runtime/session.ts';
import { encodePrompts, type Conditioning, type TextEncoderStage } from './conditioning.ts';
import { batchRows, combine, promptRows, usesPerturbation, type GuidancePlan } from '../../guidance/cfg-pag.ts';
import { planAtTimestep } from '../../guidance/adaptive-scale.ts';
import { toNhwc01 } from '../images.ts';
import { applyLoras, type AppliedLora, type LoraRequest } from '../../lora/apply.ts';
import { mergeLoraWeights, type MergedLoraWeights } from '../../lora/merge.ts';
import { embeddingTokens, type TextualInversion } from '../../text/embeddings.ts';
import { ControlNet, controlResiduals, type ControlUnit } from './controlnet.ts';
import { withInpaintChannels } from '../inpaint/unet-channels.ts';
import { checkControlNetFits, loadControlNetSource } from '../../checkpoints/controlnet.ts';
import { checkIpAdapterFits, loadIpAdapterSource } from '../../checkpoints/ip-adapter.ts';
import { checkImageEncoderFits, loadImageEncoderSource } from '../../checkpoints/clip-vision.ts';
import { imagePromptFeeds, IpAdapter, type ImagePrompt } from './ip-adapter.ts';

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
  /** img2img: [1 or images, 3, height, width] in [0, 1]. */
  initImage?: Float32Array;
  /** img2img from latents (the hires fix's latent upscale): [images, 4, height/8, width/8]; replaces initImage. */
  initLatents?: Float32Array;
  strength?: number;
  /**
   * Inpainting on any checkpoint: [height/8 · width/8], 1 = repaint. After every step the kept
   * latents are put back at the next step's noise level (diffusers' inpaint pipeline, 4-channel UNet).
   */
  inpaintMask?: Float32Array;
  /**
   * Inpainting UNets (9 input channels: latents, mask, masked-image latents): the mask at image size
   * [height · width], binarised (1 = repaint), which blanks the init image before it is encoded. Without
   * it such a UNet repaints everything (mask 1, a grey masked image), as A1111 does for txt2img.
   */
  inpaintPixelMask?: Float32Array;
  /** ControlNets steering the UNet (./controlnet.ts). */
  controlNets?: readonly ControlUnit[];
  /** IP-Adapter: an image prompt beside the text (./ip-adapter.ts). */
  imagePrompt?: ImagePrompt;
  /** PAG at layer level (diffusers' names: `mid`, `down_blocks.1`, …). */
  pag?: { scale: number; layers: readonly string[] };
  /** Head-level perturbation (SoftPAG): overrides `pag.layers` when given. */
  heads?: { scale: number; picks: readonly HeadPick[] };
  /** diffusers' `pag_adaptive_scale`: the PAG / head scale falls by this much per timestep from t = 1000 (0 = constant). */
  pagAdaptiveScale?: number;
  attention?: Attention;
  /** The UNet's feed-forward and LinFusion in pieces, split into sessions, rows one at a time (the ladder's memory plan; default whole). */
  unetMemory?: UNetMemory;
  /** The VAE's tiles (the ladder's memory plan; default the VAE's own). */
  vaeTiles?: PlannedTiles;
  /** A1111's clip skip: 1 = last layer. */
  clipSkip?: number;
  /** Textual-inversion embeddings whose names the prompts may use. */
  embeddings?: readonly TextualInversion[];
  /** SDXL's size micro-conditioning (original and target size); absent: the image size. LinFusion's HighRes conditions every stage on the final size. */
  sizeConditioning?: { width: number; height: number };
  /** The generator noise is drawn from; absent: a new one seeded with `seed`. A caller that draws on after the run passes its own. */
  generator?: TorchGenerator;
  onStep?: (step: number, total: number, latents: Float32Array) => void | Promise<void>;
  /** VAE tiles done (large images are encoded and decoded in tiles). */
  onTile?: (phase: 'encode' | 'decode', done: number, total: number) => void;
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
  /** What the run had to work around (fp16 UNet calls redone in fp32). */
  notes?: string[];
}

export interface SdLoadOptions extends LoadOptions {
  providers?: readonly Provider[];
  dtype?: 'float32' | 'float16';
  /** LoRA / LyCORIS files merged into the weights when the sessions are built. */
  loras?: readonly LoraRequest[];
  /** Where its sessions live (given by WarmModels); absent: its own. */
  sessions?: ModelSessions;
  /** Memory the first provider can use (default: read from the device once); decides which sessions stay resident. */
  deviceBytes?: number;
}

const LATENT_SCALE = 8;

export interface LatentShape { images: number; channels: number; height: number; width: number }
const latentSize = (l: LatentShape): number => l.images * l.channels * l.height * l.width;
const scaled = (x: Float32Array, k: number): Float32Array => (k === 1 ? x : x.map((v) => v * k));

export interface EncodedText {
  /** Text tokens per row, and how many batch rows one UNet call has. */
  tokens: number;
  rows: number;
  /** Which rows are the unconditional (negative prompt) branch. */
  unconditional: boolean[];
  feeds: Record<string, ort.Tensor>;
}

interface Noise {
  x: Float32Array;
  generator: TorchGenerator;
  sampler: Sampler;
  config: SchedulerConfig;
  /** First step of the schedule (img2img starts part-way). */
  startIndex: number;
  /** img2img: the init image's latents and the noise drawn for them (inpainting re-noises the kept part with it). */
  init?: { x0: Float32Array; noise: Float32Array };
  /** Inpainting UNets' extra input channels per image: the latent-size mask and the masked image's latents. */
  inpaintChannels?: { mask: Float32Array; maskedLatents: Float32Array };
}

export class SdPipeline {
  readonly sessions: ModelSessions;
  private encoders?: Promise<TextEncoderStage[]>;
  private readonly controlNets = new Map<string, ControlNet>();
  private readonly ipAdapters = new Map<string, IpAdapter>();
  readonly unetConfig: UNetConfig;
  readonly layers: SelfAttentionLayer[];
  readonly vae: Vae;
  /** The UNet graphs take the first provider's fused kernels (plain where they cannot be created). */
  private readonly unetKernels: KernelChoice;

  private constructor(readonly sources: PipelineSources, private readonly o: SdLoadOptions, readonly loras: readonly AppliedLora[] = []) {
    this.unetConfig = parseUNetConfig(sources.unetConfig, `${sources.path} (unet config)`);
    this.layers = selfAttentionLayers(this.unetConfig);
    this.sessions = o.sessions ?? ModelSessions.standalone('sd');
    // fp16 decodes are checked and redone in fp32 when broken (the VAE's NaN guard).
    this.vae = new Vae(sources.vae, sources.vaeConfig, { session: { providers: o.providers }, sessions: this.sessions.child('vae'), decodeDtype: o.dtype, encodeDtype: o.dtype, kernels: fusedKernels(this.provider) });
    this.unetKernels = new KernelChoice(fusedKernels(this.provider));
  }

  static load(path: string, o: SdLoadOptions = {}): SdPipeline {
    const { sources, applied } = applyLoras(loadPipelineSources(path, o), o.loras ?? []);
    return new SdPipeline(sources, o, applied);
  }

  /** Loads the model and merges its LoRAs into their weight file, so the load pays for the merge. */
  static async open(path: string, o: SdLoadOptions = {}): Promise<SdPipeline> {
    const pipe = SdPipeline.load(path, o);
    await pipe.ready();
    return pipe;
  }

  private loraWeights?: Promise<MergedLoraWeights | undefined>;

  /** Merges the LoRAs (once; again after a failure); every graph is built after this. */
  ready(): Promise<void> {
    this.loraWeights ??= mergeLoraWeights(this.sources).catch((e: unknown) => {
      this.loraWeights = undefined;
      throw e;
    });
    return this.loraWeights.then(() => undefined);
  }

  /**
   * A ControlNet for this model (loaded once, kept with the pipeline). Refuses one made for another family,
   * naming both; `model` names this model in that message.
   */
  controlNet(path: string, model: string): ControlNet {
    let net = this.controlNets.get(path);
    if (!net) {
      const source = loadControlNetSource(path, this.unetConfig);
      checkControlNetFits(source, this.unetConfig, model);
      net = new ControlNet(source, { providers: this.o.providers, dtype: this.o.dtype });
      this.controlNets.set(path, net);
    }
    return net;
  }

  /**
   * An IP-Adapter with its image encoder (`encoder` undefined: `image_encoder/` beside the adapter), loaded
   * once. Refuses one made for another family (naming both), and an encoder that does not fit it.
   */
  ipAdapter(path: string, encoder: string | undefined, model: string): IpAdapter {
    const key = JSON.stringify([path, encoder]);
    let adapter = this.ipAdapters.get(key);
    if (!adapter) {
      const source = loadIpAdapterSource(path);
      checkIpAdapterFits(source, this.unetConfig, model);
      const encoderSource = loadImageEncoderSource(encoder, path);
      checkImageEncoderFits(encoderSource, source);
      adapter = new IpAdapter(source, encoderSource, this.sessions.child(`ip-adapter/${key}`));
      this.ipAdapters.set(key, adapter);
    }
    return adapter;
  }

  /** Self-attention layer indices for diffusers' PAG layer names (`mid`, `down_blocks.1`, …). */
  matchPagLayers(names: readonly string[]): number[] {
    return matchPagLayers(this.layers, names);
  }

  /** Channels of the latents (the VAE's), fewer than the UNet's inputs for inpainting UNets. */
  get latentChannels(): number {
    return this.vae.config.latentChannels;
  }

  /** An inpainting UNet: conv_in takes the latents, the mask and the masked image's latents (diffusers' 9 channels). */
  get inpaintingUNet(): boolean {
    return this.unetConfig.inChannels === 2 * this.latentChannels + 1;
  }

  /** The execution provider its sessions ask for first. */
  get provider(): Provider {
    return this.o.providers?.[0] ?? 'cpu';
  }

  get textConditioning(): TextConditioning {
    return this.sources.textConditioning;
  }

  get family(): string {
    return this.sources.family;
  }

  /**
   * The text encoders with their tokenizers (also used by recipes built on this pipeline, e.g. story
   * mode). Embeddings extend each encoder's token table, so a new set builds new encoders.
   */
  textStages(clipSkip: number, embeddings: readonly TextualInversion[] = []): Promise<TextEncoderStage[]> {
    const key = JSON.stringify([clipSkip, embeddings.map((e) => e.path)]);
    if (!this.encoders || this.encodersKey !== key) {
      const old = this.encoders;
      this.encodersKey = key;
      old?.then((stages) => Promise.all(stages.map((s) => s.encoder.release()))).catch(() => undefined);
      const { penultimateLayer, pooledTextEmbeds } = this.sources.textConditioning;
      this.encoders = Promise.all(this.sources.textEncoders.map(async (source, i) => {
        await this.ready();
        const cfg = this.sources.textConfigs[i];
        const last = i === this.sources.textEncoders.length - 1;
        const tokenizer = ClipTokenizer.fromFolder(this.sources.tokenizerDirs[i], { pad: this.sources.tokenizerPads[i] });
        const words = embeddingTokens(embeddings, i, cfg.vocabSize, tokenizer);
        const encoder = await ClipTextEncoder.create(source, cfg, {
          skip: (penultimateLayer ? 1 : 0) + clipSkip - 1,
          normalize: !penultimateLayer,
          pooled: pooledTextEmbeds && last,
          session: { providers: this.o.providers },
          sessions: this.sessions.child(`text/${key}/${i}`),
          extraTokens: words.rows,
        });
        return { tokenizer, encoder, width: cfg.hiddenSize, replace: words.replace };
      }));
    }
    return this.encoders;
  }
  private encodersKey?: string;

  /**
   * The UNet runner for a batch shape and one attention phase (its sessions built once, then reused); `dilation` > 1
   * dilates every convolution (LinFusion's dilated branch, models/unet/dilate.ts); `memory`: the ladder's pieces,
   * split and rows (models/unet/runner.ts); `dtype`: float32 to redo an fp16 call that overflowed (unet-recovery.ts).
   */
  private async unet(rows: number, h: number, w: number, tokens: number, perturbedRows: number, attention: Attention, phase: AttentionPhase, controlResiduals: boolean, ip?: IpAdapter, dilation = 1, memory: UNetMemory = WHOLE, dtype = this.o.dtype) {
    const ipAdapter = ip && { layers: ip.source.layers, tokens: ip.source.tokens };
    const key = JSON.stringify([rows, h, w, tokens, perturbedRows, attention, phase.key, controlResiduals, ip?.source.path, ...(dilation > 1 ? [dilation] : []), memory, dtype]);
    if (memory.rowByRow && (perturbedRows || controlResiduals || ipAdapter)) throw new Error('UNet rows one at a time: PAG, ControlNet and IP-Adapter inputs need the rows together; run this stage with the rows in one call');
    await this.ready();
    let variant: SelfAttentionVariant | undefined;
    let info: SelfAttentionVariant | undefined;
    const runner = await this.unetKernels.create((kernels) => {
      const options = () => ({ height: h, width: w, textLength: tokens, perturbedRows: perturbedRows || undefined, dtype, controlResiduals, ipAdapter, kernels, selfAttention: (variant ??= phase.build()) });
      return openUNetRunner(this.sources.unet, this.unetConfig, options, rows, memory, async (part, build) => {
        const built = await this.sessions.child('unet').getBuilt(kernelPart(`${key}/${part}`, kernels), () => {
          const graph = build();
          dilateConvolutions(graph, dilation);
          return { graph, info: variant! };
        }, { providers: this.o.providers, ...unetSessionOptions(memory) });
        info ??= built.info;
        return built.session;
      });
    });
    return { runner, info: info! };
  }


  /** Releases every UNet session (the ladder does between stages: the next stage's size needs new ones). */
  releaseUNets(): Promise<void> {
    return this.sessions.child('unet').release();
  }

  /** The head selection a request perturbs (PAG layers as whole-layer picks, or explicit heads). */
  private perturbation(o: SdGenerateOptions): { scale: number; picks: readonly HeadPick[] } | undefined {
    if (o.heads && o.heads.scale > 0) return o.heads;
    if (o.pag && o.pag.scale > 0) return { scale: o.pag.scale, picks: wholeLayerPicks(this.layers, matchPagLayers(this.layers, o.pag.layers)) };
    return undefined;
  }

  async generate(o: SdGenerateOptions): Promise<SdResult> {
    if (o.width % LATENT_SCALE || o.height % LATENT_SCALE) throw new RangeError(`image size ${o.width}×${o.height} must be a multiple of ${LATENT_SCALE} on both sides`);
    const timings: Record<string, number> = {};
    const timed = async <R>(name: string, f: () => Promise<R>): Promise<R> => {
      const t0 = performance.now();
      try {
        return await f();
      } finally {
        timings[name] = (timings[name] ?? 0) + performance.now() - t0;
      }
    };
    const images = o.images ?? 1;
    const latent: LatentShape = { images, channels: this.latentChannels, height: o.height / LATENT_SCALE, width: o.width / LATENT_SCALE };
    const perturb = this.perturbation(o);
    const plan: GuidancePlan = { cfg: o.cfg, pag: perturb?.scale ?? 0 };

    const text = await timed('encode', () => this.encodeText(o, plan, images));
    const residency = this.textResidency(o, text.rows, images);
    if (residency.release) await this.releaseTextEncoders();
    o.signal?.throwIfAborted();
    const noise = await timed('encode', () => this.noise(o, latent));
    const { final, latentsPerStep, provider, recoveredCalls } = await timed('denoise', () => this.denoise(o, latent, plan, perturb, text, noise));
    const decoded = await timed('decode', () => this.decodeImages(final, latent, o.onTile, o.vaeTiles));
    const refused = this.unetKernels.refusedBecause ?? this.vae.fusedRefusedBecause;
    const notes = [...(residency.note ? [residency.note] : []), ...(refused ? [`fused kernels refused (${refused}); plain graphs`] : []), ...unetRecoveryNotes(recoveredCalls), ...decoded.notes];
    return { images: decoded.images, count: images, width: o.width, height: o.height, latentsPerStep, timings, provider, notes };
  }

  /** Whether this image releases the text encoders after encoding (./residency.ts). */
  private textResidency(o: SdGenerateOptions, rows: number, images: number): TextResidency {
    this.deviceBytes ??= this.o.deviceBytes ?? deviceMemoryBytes(this.provider) ?? Infinity;
    return textResidency({
      unet: this.sources.unet, unetConfig: this.unetConfig, vae: this.sources.vae, textEncoders: this.sources.textEncoders,
      provider: this.provider, bytesPerValue: this.o.dtype === 'float16' ? 2 : 4, availableBytes: Number.isFinite(this.deviceBytes) ? this.deviceBytes : undefined,
      width: o.width, height: o.height, rows, images, attention: o.attention?.kind ?? 'softmax',
    });
  }
  private deviceBytes?: number;

  /** Releases the text encoders' sessions; the next prompt creates them again. */
  async releaseTextEncoders(): Promise<void> {
    this.encoders = undefined;
    this.encodersKey = undefined;
    await this.sessions.child('text').release();
  }

  /** 1. Prompts → the UNet's text inputs, rows in batch order [uncond?, cond, perturbed-cond?] × images. */
  async encodeText(o: Pick<SdGenerateOptions, 'prompt' | 'negative' | 'clipSkip' | 'embeddings' | 'width' | 'height' | 'sizeConditioning'>, plan: GuidancePlan, images: number): Promise<EncodedText> {
    const stages = await this.textStages(o.clipSkip ?? 1, o.embeddings);
    const negative = o.negative ?? '';
    const forceZeros = this.sources.textConditioning.zeroEmptyNegative && negative === '';
    const conditioning = await encodePrompts(stages, [negative, o.prompt], forceZeros ? new Set([0]) : new Set());
    const layout = promptRows(plan, images, { negative: 0, prompt: 1 });
    const size = o.sizeConditioning ?? o;
    return { tokens: conditioning.tokens, rows: layout.length, unconditional: layout.map((row) => row === 0), feeds: this.textFeeds(conditioning, layout, size.width, size.height) };
  }

  /** 2. Initial latents: diffusers draws them (and any later noise) from one CPU generator. */
  private async noise(o: SdGenerateOptions, l: LatentShape): Promise<Noise> {
    const generator = o.generator ?? new TorchGenerator(o.seed);
    const sampler = getSampler(o.sampler);
    const config = this.sources.scheduler.config as SchedulerConfig;
    const shape = [l.images, l.channels, l.height, l.width];
    const initSigma = sampler.plan(config, o.steps).initNoiseSigma;
    const inpainting = this.inpaintingUNet;
    if (!o.initImage && !o.initLatents) {
      const x = scaled(generator.randn(shape), initSigma);
      const inpaintChannels = inpainting ? await this.inpaintChannels(o, l, generator) : undefined;
      return { x, generator, sampler, config, startIndex: 0, inpaintChannels };
    }
    const strength = o.strength ?? 0.8;
    const startIndex = img2imgStartIndex(sampler, config, o.steps, strength);
    // An inpainting UNet at full strength starts from pure noise and never looks at the init latents.
    const skipInit = inpainting && o.inpaintMask && strength >= 1;
    const x0 = skipInit ? undefined : o.initLatents ?? (await this.encodeInit(o.initImage!, l, generator, o.onTile, o.vaeTiles));
    if (x0 && x0.length !== latentSize(l)) throw new RangeError(`img2img latents hold ${x0.length} values; ${l.images}×${l.channels}×${l.height}×${l.width} expected`);
    const noise = generator.randn(shape);
    if (inpainting) {
      const x = !x0 ? scaled(noise, initSigma) : sampler.addNoise(config, o.steps, startIndex, x0, noise);
      return { x, generator, sampler, config, startIndex, inpaintChannels: await this.inpaintChannels(o, l, generator) };
    }
    if (!o.inpaintMask) return { x: sampler.addNoise(config, o.steps, startIndex, x0!, noise), generator, sampler, config, startIndex };
    // diffusers' inpaint pipeline: full strength starts from pure noise; then it encodes the masked
    // image, one more posterior draw that a 4-channel UNet does not use but the generator advances by.
    generator.randn([1, l.channels, l.height, l.width]);
    const x = strength >= 1 ? scaled(noise, initSigma) : sampler.addNoise(config, o.steps, startIndex, x0!, noise);
    return { x, generator, sampler, config, startIndex, init: { x0: x0!, noise } };
  }

  /**
   * An inpainting UNet's mask and masked-image latents (diffusers' prepare_mask_latents): the init image
   * with the repainted part set to 0 (mid grey) through the VAE, one posterior draw. Without a mask (or
   * without an init image) everything is repainted: mask 1 and an all-grey image, as A1111 does.
   */
  private async inpaintChannels(o: SdGenerateOptions, l: LatentShape, generator: TorchGenerator): Promise<{ mask: Float32Array; maskedLatents: Float32Array }> {
    const [H, W] = [l.height * LATENT_SCALE, l.width * LATENT_SCALE];
    const plane = H * W;
    const masked = o.inpaintMask && o.inpaintPixelMask && o.initImage;
    const pixels = new Float32Array(3 * plane);
    if (masked) {
      if (o.initImage!.length !== 3 * plane) throw new RangeError(`inpainting UNets take one init image (${3 * plane} values expected, got ${o.initImage!.length})`);
      for (let c = 0; c < 3; c++) for (let p = 0; p < plane; p++) pixels[c * plane + p] = o.inpaintPixelMask![p] >= 0.5 ? 0 : o.initImage![c * plane + p] * 2 - 1;
    }
    const posteriorNoise = generator.randn([1, l.channels, l.height, l.width]);
    const encoded = await this.vae.encode({ data: pixels, dims: [1, 3, H, W] }, posteriorNoise);
    return { mask: masked ? o.inpaintMask! : new Float32Array(l.height * l.width).fill(1), maskedLatents: encoded.latents.data };
  }

  /** The init image(s) ([n, 3, H, W] in [0, 1]) through the VAE, one posterior draw for the batch given, repeated to fill the batch. */
  async encodeInit(image: Float32Array, l: LatentShape, generator: TorchGenerator, onTile: SdGenerateOptions['onTile'], tiles?: PlannedTiles): Promise<Float32Array> {
    const given = image.length / (3 * l.height * l.width * LATENT_SCALE * LATENT_SCALE);
    if (given !== 1 && given !== l.images) throw new RangeError(`img2img needs 1 or ${l.images} init images, got ${given}`);
    const pixels = image.map((v) => v * 2 - 1);
    const posteriorNoise = generator.randn([given, l.channels, l.height, l.width]);
    const encoded = await this.vae.encode({ data: pixels, dims: [given, 3, l.height * LATENT_SCALE, l.width * LATENT_SCALE] }, posteriorNoise, onTile && ((done, total) => onTile('encode', done, total)), tiles);
    if (given === l.images) return encoded.latents.data;
    const x0 = new Float32Array(latentSize(l));
    for (let i = 0; i < l.images; i++) x0.set(encoded.latents.data, i * encoded.latents.data.length);
    return x0;
  }

  /**
   * Inpainting's blend after a step: the kept area goes back to the init latents noised to the
   * next step's level (clean after the last step), as diffusers' StableDiffusionInpaintPipeline does.
   */
  private keepUnmasked(o: SdGenerateOptions, l: LatentShape, n: Noise, step: number, x: Float32Array): void {
    if (!o.inpaintMask || !n.init || this.inpaintingUNet) return;
    const plan = n.sampler.plan(n.config, o.steps);
    const next = n.startIndex + (step + 1) * plan.order;
    const kept = next < plan.timesteps.length ? n.sampler.addNoise(n.config, o.steps, next, n.init.x0, n.init.noise) : n.init.x0;
    const plane = l.height * l.width;
    for (let i = 0; i < x.length; i++) {
      const m = o.inpaintMask[i % plane];
      x[i] = (1 - m) * kept[i] + m * x[i];
    }
  }

  /** 3. Denoise: one batched UNet call per model evaluation, guidance combined from its rows. */
  private async denoise(o: SdGenerateOptions, l: LatentShape, plan: GuidancePlan, perturb: ReturnType<SdPipeline['perturbation']>, text: EncodedText, n: Noise) {
    const { sampler, config, startIndex } = n;
    const attention = o.attention ?? { kind: 'softmax' };
    const schedule = attentionSchedule(attention, o.seed);
    const perturbedRows = usesPerturbation(plan) ? l.images : 0;
    const headWeights = perturb ? tensor(headWeightsData(this.layers, perturb.picks), headWeightsShape(this.layers)) : undefined;
    const size = latentSize(l);
    const totalSteps = sampler.plan(config, o.steps).timesteps.length - startIndex;
    const latentsPerStep: Float32Array[] = [];
    const control = o.controlNets?.length ? o.controlNets : undefined;
    const imagePrompt = o.imagePrompt && (await imagePromptFeeds(o.imagePrompt, text.unconditional));
    let step = 0;
    let evaluation = 0;
    let recoveredCalls = 0;
    let provider: Provider = 'cpu';
    const final = await sampler.sample({
      model: async (xIn, timestep) => {
        o.signal?.throwIfAborted();
        const phase = schedule(step, totalSteps);
        const shape = [text.rows, l.height, l.width, text.tokens, perturbedRows, attention, phase, !!control, o.imagePrompt?.adapter, 1, o.unetMemory] as const;
        const unet = await this.unet(...shape);
        provider = unet.runner.provider;
        const latents = batchRows(plan, xIn);
        const feeds: Record<string, ort.Tensor> = {
          ...text.feeds,
          sample: tensor(latents, [text.rows, l.channels, l.height, l.width]),
          timestep: tensor(new Float32Array(text.rows).fill(timestep), [text.rows]),
        };
        if (control) {
          const at = { rows: text.rows, height: l.height, width: l.width, tokens: text.tokens, unconditional: text.unconditional, feeds, index: evaluation, total: totalSteps };
          Object.assign(feeds, await controlResiduals(control, this.unetConfig, at));
        }
        evaluation++;
        if (n.inpaintChannels) feeds.sample = tensor(withInpaintChannels(latents, n.inpaintChannels, l.images, text.rows), [text.rows, this.unetConfig.inChannels, l.height, l.width]);
        if (headWeights) feeds[HEAD_WEIGHTS_INPUT] = headWeights;
        if (imagePrompt) Object.assign(feeds, imagePrompt);
        if (phase.feeds) Object.assign(feeds, phase.feeds(unet.info, o.unetMemory?.rowByRow ? 1 : text.rows));
        const fp32 = this.o.dtype === 'float16' ? async () => (await this.unet(...shape, 'float32')).runner : undefined;
        const out = await runRecovering(unet.runner, fp32, feeds);
        if (out.recovered) recoveredCalls++;
        return combine(planAtTimestep(plan, o.pagAdaptiveScale, timestep), out.output, size);
      },
      x: n.x, config, steps: o.steps, generator: n.generator, startIndex,
      onStep: async (i, latents, total) => {
        this.keepUnmasked(o, l, n, i, latents);
        step = i + 1;
        latentsPerStep.push(latents.slice());
        await o.onStep?.(i, total, latents);
        o.signal?.throwIfAborted();
      },
    });
    return { final, latentsPerStep, provider, recoveredCalls };
  }

  /** 4. Decode to [0, 1] RGB, NHWC. */
  async decode(final: Float32Array, l: LatentShape, onTile: SdGenerateOptions['onTile'], tiles?: PlannedTiles): Promise<Float32Array> {
    return (await this.decodeImages(final, l, onTile, tiles)).images;
  }

  /** As decode, with the note when the fp16 decode was broken and redone in fp32. */
  private async decodeImages(final: Float32Array, l: LatentShape, onTile: SdGenerateOptions['onTile'], tiles?: PlannedTiles): Promise<{ images: Float32Array; notes: string[] }> {
    const decoded = await this.vae.decode({ data: final, dims: [l.images, l.channels, l.height, l.width] }, onTile && ((done, total) => onTile('decode', done, total)), tiles);
    return { images: toNhwc01(decoded.data, l.images, l.height * LATENT_SCALE, l.width * LATENT_SCALE), notes: recoveryNotes(decoded.recoveredFrom) };
  }

  /**
   * One classifier-free-guided UNet evaluation outside the samplers (LinFusion's dual-branch loop): `x` is the
   * scaled model input of `l`, the text rows come from encodeText, every convolution dilated by `dilation`.
   */
  async guidedOutput(text: EncodedText, l: LatentShape, x: Float32Array, timestep: number, o: { cfg: number; attention?: Attention; phase: AttentionPhase; dilation?: number; memory?: UNetMemory }): Promise<Float32Array> {
    const plan: GuidancePlan = { cfg: o.cfg, pag: 0 };
    const unet = await this.unet(text.rows, l.height, l.width, text.tokens, 0, o.attention ?? { kind: 'softmax' }, o.phase, false, undefined, o.dilation, o.memory);
    const feeds: Record<string, ort.Tensor> = {
      ...text.feeds,
      sample: tensor(batchRows(plan, x), [text.rows, l.channels, l.height, l.width]),
      timestep: tensor(new Float32Array(text.rows).fill(timestep), [text.rows]),
    };
    if (o.phase.feeds) Object.assign(feeds, o.phase.feeds(unet.info, o.memory?.rowByRow ? 1 : text.rows));
    return combine(plan, await unet.runner.run(feeds), latentSize(l));
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
    for (const net of this.controlNets.values()) await net.release();
    this.controlNets.clear();
    this.ipAdapters.clear();
    this.encoders = undefined;
    await this.sessions.release();
    (await this.loraWeights?.catch(() => undefined))?.release();
    this.loraWeights = undefined;
  }
}

