// The project's own emoji models (emoji-DiT, emoji-LiT, emoji-DiCo), read top to bottom: load the three
// sessions once → check and encode the prompts → torch.randn noise → Euler steps of the rectified flow
// with CFG (+ SoftPAG/PAG) → decode. Every image and branch of a step goes through one denoiser call.
import { join } from 'node:path';
import { SafetensorsFile } from '../../io/safetensors.ts';
import { readEmojiConfig } from '../../models/emoji/config.ts';
import { buildEmojiTextGraph } from '../../models/emoji/text.ts';
import { buildEmojiVaeDecoderGraph } from '../../models/emoji/vae.ts';
import { buildEmojiUpsamplerGraph } from '../../models/emoji/upsampler.ts';
import { EmojiTokenizer } from '../../models/emoji/tokenizer.ts';
import { headWeightsData, headWeightsShape, HEAD_WEIGHTS_INPUT, type HeadPick } from '../../attention/head-perturbation.ts';
import type { SelfAttentionLayer } from '../../attention/self-attention.ts';
import { parseSeed, TorchGenerator } from '../../random/torch-randn.ts';
import { ort, tensor, type Provider, type Session } from '../../runtime/session.ts';
import { ModelSessions } from '../../runtime/session-cache.ts';
import { BadRequestError } from '../../jobs/api.ts';
import type { SdResult } from '../sd/pipeline.ts';
import { eulerStep, timeGrid } from '../../samplers/rectified-flow.ts';
import { batchRows, branchCount, combine, EMOJI_GUIDANCE, promptRows, usesCfg, usesPerturbation, type GuidancePlan } from '../../guidance/cfg-pag.ts';
import { toNhwc01, toRgb8 } from '../images.ts';
import type { RgbImage } from '../../metadata/encode-png.ts';
import { buildEmojiDenoiser, emojiAttentionLayers, resolveEmojiModel, type EmojiDenoiserConfig, type EmojiModelFolders } from './models.ts';
import { readPrompt } from './prompt-check.ts';

/** Images per generate() call: enough for a contact sheet, small enough to fail fast on a typo. */
export const MAX_EMOJI_IMAGES = 64;
const MAX_STEPS = 1000;

export interface EmojiLoadOptions {
  providers?: readonly Provider[];
  /** Where `emoji-dit|emoji-lit|emoji-dico` are looked up; default: this checkout's assets/models. */
  assetsDir?: string;
  /**
   * ORT intra-op threads per session. Default 1: these networks' operators are too small to share
   * (bench/NOTES.md: on the 2-core machine one thread draws a 64² image in 0.35–0.42 s, two in 0.76–1.18 s).
   */
  intraOpThreads?: number;
  /** Where its sessions live (given by WarmModels); absent: its own. */
  sessions?: ModelSessions;
}

export interface EmojiGenerateOptions {
  prompt: string;
  /** The unconditional row's text; empty by default (as in training). */
  negative?: string;
  /** Absent: the model's defaults from config.json `sampler`. */
  steps?: number;
  cfg?: number;
  shift?: number;
  seed: number | bigint;
  /** Images per call, 1–64; their noise is one torch.randn([images, 4, 16, 16]). */
  images?: number;
  /** SoftPAG/PAG: perturbed heads of the self-attention layers (`layers`) and the guidance scale. */
  heads?: { scale: number; picks: readonly HeadPick[] };
  /** Side of the square image: the model's own (64) or twice it through the 2× upsampler (128). Default: 64. */
  size?: number;
  /** Starting latents [images, 4, 16, 16] instead of the seed's noise (parity checks). */
  initialNoise?: Float32Array;
  onStep?: (step: number, total: number, latents: Float32Array) => void | Promise<void>;
  signal?: AbortSignal;
}

export interface EmojiResult extends SdResult {
  /** What the run did that the caller may not expect (empty prompt, unknown or cut-off words). */
  notes: string[];
  settings: { steps: number; cfg: number; shift: number };
}

export class EmojiPipeline {
  private loadTime = 0;
  readonly layers: SelfAttentionLayer[];

  private constructor(
    readonly name: string,
    readonly folders: EmojiModelFolders,
    readonly tokenizer: EmojiTokenizer,
    private readonly weights: SafetensorsFile,
    private readonly text: Session,
    private readonly decoder: Session,
    private readonly o: EmojiLoadOptions,
    private readonly imageSize: number,
    private readonly sessions: ModelSessions,
  ) {
    this.layers = emojiAttentionLayers(folders.config);
  }

  static async load(nameOrDir: string, options: EmojiLoadOptions = {}): Promise<EmojiPipeline> {
    const t0 = performance.now();
    const o = { ...options, intraOpThreads: options.intraOpThreads ?? 1 };
    const folders = resolveEmojiModel(nameOrDir, o.assetsDir);
    const textCfg = readEmojiConfig(folders.textDir, ['emoji-text']);
    const vaeCfg = readEmojiConfig(folders.vaeDir, ['emoji-vae']);
    const tokenizer = EmojiTokenizer.fromFolder(folders.textDir);
    const session = { providers: o.providers, intraOpThreads: o.intraOpThreads };
    const sessions = o.sessions ?? ModelSessions.standalone(folders.config.architecture);
    const [text, decoder] = await Promise.all([
      sessions.get('text', () => buildEmojiTextGraph(SafetensorsFile.open(join(folders.textDir, 'model.safetensors')), textCfg), session),
      sessions.get('vae/decode', () => buildEmojiVaeDecoderGraph(SafetensorsFile.open(join(folders.vaeDir, 'model.safetensors')), vaeCfg), session),
    ]);
    const weights = SafetensorsFile.open(join(folders.dir, 'model.safetensors'));
    const pipeline = new EmojiPipeline(folders.config.architecture, folders, tokenizer, weights, text, decoder, o, vaeCfg.image_size, sessions);
    await pipeline.denoiser(branchCount({ cfg: pipeline.defaults.cfg, pag: 0 }, EMOJI_GUIDANCE), 0);
    pipeline.loadTime = performance.now() - t0;
    return pipeline;
  }

  /** Milliseconds load() took: configs, and sessions for the text encoder, decoder and the default denoiser batch. */
  get loadMs(): number {
    return this.loadTime;
  }

  get config(): EmojiDenoiserConfig {
    return this.folders.config;
  }

  /** steps, cfg and shift chosen on validation prompts (config.json `sampler`). */
  get defaults(): { steps: number; cfg: number; shift: number } {
    const { steps, cfg, shift } = this.config.sampler;
    return { steps, cfg, shift };
  }

  private denoiser(rows: number, perturbedRows: number): Promise<Session> {
    return this.sessions.get(`denoiser/${rows}|${perturbedRows}`, () => buildEmojiDenoiser(this.weights, this.config, rows, perturbedRows), {
      providers: this.o.providers,
      intraOpThreads: this.o.intraOpThreads,
    });
  }

  /** Image 0 of latents [N, 4, 16, 16] through the model's own decoder: a full-quality 64² preview for a few ms. */
  async previewImage(latents: Float32Array): Promise<RgbImage> {
    const latent = this.config.latent_size;
    const channels = this.config.in_channels;
    const first = latents.slice(0, channels * latent * latent);
    const decoded = (await this.decoder.run({ z: tensor(first, [1, channels, latent, latent]) })).decoded.data as Float32Array;
    return toRgb8(toNhwc01(decoded, 1, this.imageSize, this.imageSize), 0, this.imageSize, this.imageSize);
  }

  async generate(o: EmojiGenerateOptions): Promise<EmojiResult> {
    const timings: Record<string, number> = {};
    const clock = (name: string, start: number) => (timings[name] = (timings[name] ?? 0) + performance.now() - start);
    const settings = this.settings(o);
    const images = checkImages(o.images ?? 1);
    const side = this.checkSize(o.size ?? this.imageSize);
    const seed = checkSeed(o.seed);
    const perturb = o.heads?.scale ?? 0;
    if (!Number.isFinite(perturb) || perturb < 0) throw new BadRequestError(`heads.scale = ${perturb}: must be a number >= 0 (0 = no head guidance)`);
    const plan: GuidancePlan = { cfg: settings.cfg, pag: perturb };
    const headWeights = usesPerturbation(plan) ? this.headWeights(o.heads!.picks) : undefined;
    const latent = this.config.latent_size;
    const channels = this.config.in_channels;
    const size = images * channels * latent * latent;
    if (o.initialNoise && o.initialNoise.length !== size) {
      throw new BadRequestError(`initialNoise has ${o.initialNoise.length} values; [${images}, ${channels}, ${latent}, ${latent}] needs ${size}`);
    }

    // 1. Prompts → text rows [cond, uncond?, perturbed-cond?] × images.
    let t0 = performance.now();
    const prompt = readPrompt(this.tokenizer, o.prompt, { role: 'prompt', model: this.name });
    const negative = readPrompt(this.tokenizer, o.negative ?? '', { role: 'negative prompt', model: this.name, negative: true });
    const notes = [...prompt.notes, ...(usesCfg(plan, EMOJI_GUIDANCE) ? negative.notes : [])];
    if (!usesCfg(plan, EMOJI_GUIDANCE) && o.negative) notes.push('negative prompt unused: cfg = 1 runs no unconditional branch');
    const layout = promptRows(plan, images, { prompt: 0, negative: 1 }, EMOJI_GUIDANCE);
    const textFeeds = await this.encodeText([prompt.encoding.ids, negative.encoding.ids], layout);
    clock('encode', t0);

    // 2. Noise: torch.randn with the seed's CPU generator, so a seed means what it means in PyTorch.
    const x = o.initialNoise ? o.initialNoise.slice() : new TorchGenerator(seed).randn([images, channels, latent, latent]);

    // 3. Denoise: one call per step for every image and branch.
    t0 = performance.now();
    const rows = layout.length;
    const session = await this.denoiser(rows, usesPerturbation(plan) ? images : 0);
    clock('build', t0);
    const ts = timeGrid(settings.steps, settings.shift);
    const latentsPerStep: Float32Array[] = [];
    t0 = performance.now();
    for (let i = 0; i < settings.steps; i++) {
      o.signal?.throwIfAborted();
      const feeds: Record<string, ort.Tensor> = {
        ...textFeeds,
        x: tensor(batchRows(plan, x, EMOJI_GUIDANCE), [rows, channels, latent, latent]),
        t: tensor(new Float32Array(rows).fill(ts[i]), [rows]),
      };
      if (headWeights) feeds[HEAD_WEIGHTS_INPUT] = headWeights;
      const out = (await session.run(feeds)).out.data as Float32Array;
      eulerStep(x, combine(plan, out, size, EMOJI_GUIDANCE), ts[i + 1] - ts[i]);
      const snapshot = x.slice();
      latentsPerStep.push(snapshot);
      await o.onStep?.(i, settings.steps, snapshot);
    }
    o.signal?.throwIfAborted();
    clock('denoise', t0);

    // 4. Decode to [0, 1] RGB, NHWC.
    t0 = performance.now();
    let decoded = (await this.decoder.run({ z: tensor(x, [images, channels, latent, latent]) })).decoded.data as Float32Array;
    clock('decode', t0);
    if (side !== this.imageSize) {
      t0 = performance.now();
      const upsampler = await this.upsampler(images);
      decoded = (await upsampler.run({ image: tensor(decoded, [images, 3, this.imageSize, this.imageSize]) })).upsampled.data as Float32Array;
      clock('upsample', t0);
    }
    return { images: toNhwc01(decoded, images, side, side), count: images, width: side, height: side, latentsPerStep, timings, provider: session.provider, notes, settings };
  }

  private settings(o: EmojiGenerateOptions): { steps: number; cfg: number; shift: number } {
    const s = { ...this.defaults, ...definedOnly({ steps: o.steps, cfg: o.cfg, shift: o.shift }) };
    if (!Number.isInteger(s.steps) || s.steps < 1 || s.steps > MAX_STEPS) throw new BadRequestError(`steps = ${s.steps}: must be a whole number from 1 to ${MAX_STEPS} (${this.name} defaults to ${this.defaults.steps})`);
    if (!Number.isFinite(s.cfg) || s.cfg < 0) throw new BadRequestError(`cfg = ${s.cfg}: must be a number >= 0 (1 = no guidance; ${this.name} defaults to ${this.defaults.cfg})`);
    if (!Number.isFinite(s.shift) || s.shift <= 0) throw new BadRequestError(`shift = ${s.shift}: must be a number > 0 (1 = the plain linear time grid; ${this.name} defaults to ${this.defaults.shift})`);
    return s;
  }

  private checkSize(side: number): number {
    const sides = [this.imageSize, 2 * this.imageSize];
    if (!sides.includes(side)) throw new BadRequestError(`size ${side}: ${this.name} draws ${sides.map((s) => `${s}×${s}`).join(' or ')} (the larger through its 2× upsampler)`);
    return side;
  }

  /** The 2× upsampler for `images` images per call, built on first use. */
  private upsampler(images: number): Promise<Session> {
    const dir = this.folders.upsamplerDir;
    return this.sessions.get(`upsampler/${images}`, () => {
      try {
        return buildEmojiUpsamplerGraph(SafetensorsFile.open(join(dir, 'model.safetensors')), readEmojiConfig(dir, ['emoji-upsampler']), { batch: images });
      } catch (e) {
        throw new BadRequestError(`128×128 needs the 2× upsampler in ${dir}: ${(e as Error).message}; draw 64×64 instead or reinstall the built-in models`);
      }
    }, { providers: this.o.providers, intraOpThreads: this.o.intraOpThreads });
  }

  private headWeights(picks: readonly HeadPick[]): ort.Tensor {
    if (this.layers.length === 0) throw new BadRequestError(`${this.name} has no attention heads to perturb: head guidance needs emoji-dit or emoji-lit`);
    try {
      return tensor(headWeightsData(this.layers, picks), headWeightsShape(this.layers));
    } catch (e) {
      throw new BadRequestError(`${this.name}: ${(e as Error).message}`);
    }
  }

  /** Encodes the prompt rows once and lays them out as the denoiser's text inputs (`layout[r]` = prompt row of batch row r). */
  private async encodeText(ids: readonly number[][], layout: readonly number[]): Promise<Record<string, ort.Tensor>> {
    const len = ids[0].length;
    const out = await this.text.run({ ids: new ort.Tensor('int32', Int32Array.from(ids.flat()), [ids.length, len]) });
    const pick = (t: ort.Tensor, name: string) => {
      const per = (t.dims as number[]).slice(1);
      const n = per.reduce((a, b) => a * b, 1);
      const src = t.data as Float32Array;
      const dst = new Float32Array(layout.length * n);
      layout.forEach((row, i) => dst.set(src.subarray(row * n, (row + 1) * n), i * n));
      return [name, tensor(dst, [layout.length, ...per])] as const;
    };
    return Object.fromEntries([pick(out.tokens, 'text_tokens'), pick(out.mask, 'text_mask'), pick(out.pooled, 'text_pooled')]);
  }

  release(): Promise<void> {
    return this.sessions.release();
  }
}

function checkImages(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > MAX_EMOJI_IMAGES) {
    throw new BadRequestError(`images = ${n}: must be a whole number from 1 to ${MAX_EMOJI_IMAGES} per call; for more, run again with another seed`);
  }
  return n;
}

function checkSeed(seed: number | bigint): bigint {
  try {
    return parseSeed(seed);
  } catch (e) {
    throw new BadRequestError(`seed: ${(e as Error).message}`);
  }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
