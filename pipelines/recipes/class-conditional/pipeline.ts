// DiT / DiCo ImageNet sampling as their reference scripts do it, top to bottom: torch.randn latents →
// respaced learned-variance DDPM (250 steps by default) with classifier-free guidance on the first 3 ε
// channels (forward_with_cfg) → decode `latents / 0.18215` with the SD VAE.
// Noise comes from the torch.randn port with a CPU generator: a seed reproduces the reference scripts
// run on the CPU (`torch.manual_seed(seed)` there); their usual GPU runs draw from CUDA's generator,
// whose streams differ, so GPU-made reference images are not reproduced seed for seed.
import { GraphError } from '../../onnx/graph.ts';
import type { Vae } from '../../models/vae/vae.ts';
import { parseSeed, TorchGenerator } from '../../random/torch-randn.ts';
import { ort, tensor, type Provider, type Session } from '../../runtime/session.ts';
import { ModelSessions } from '../../runtime/session-cache.ts';
import { BadRequestError } from '../../jobs/api.ts';
import type { SdResult } from '../sd/pipeline.ts';
import { linearBetas, pSample, spacedSchedule, spaceTimesteps, TRAIN_STEPS } from '../../samplers/iddpm.ts';
import { openClassConditional, type ClassConditionalFamily, type ClassConditionalModel } from './model.ts';
import { loadDitVae } from './vae.ts';
import { toNhwc01 } from '../images.ts';
import { recoveryNotes } from '../../runtime/result-checks.ts';

const VAE_FACTOR = 8;
export const MAX_CLASS_IMAGES = 64;

/** DiT's sample.py draws with cfg 4 and 250 steps; DiCo publishes its best checkpoint at cfg 1.4. */
export const CLASS_CONDITIONAL_DEFAULTS: Record<ClassConditionalFamily, { steps: number; cfg: number }> = {
  dit: { steps: 250, cfg: 4 },
  dico: { steps: 250, cfg: 1.4 },
};

export interface ClassConditionalLoadOptions {
  /** The SD VAE (file or diffusers folder); required. */
  vae?: string;
  providers?: readonly Provider[];
  /** Where its sessions live (given by WarmModels); absent: its own. */
  sessions?: ModelSessions;
}

export interface ClassConditionalGenerateOptions {
  classLabel: number;
  steps?: number;
  /** Guidance scale, >= 1 (1 = no guidance, as the reference's `cfg_scale > 1` switch). */
  cfg?: number;
  seed: number | bigint;
  images?: number;
  width?: number;
  height?: number;
  /** Starting latents [images, C, h, w] instead of the seed's (parity checks). */
  initialNoise?: Float32Array;
  onStep?: (step: number, total: number, latents: Float32Array) => void | Promise<void>;
  signal?: AbortSignal;
}

export interface ClassConditionalResult extends SdResult {
  settings: { steps: number; cfg: number; width: number; height: number };
  notes: string[];
}

export class ClassConditionalPipeline {
  private constructor(
    readonly model: ClassConditionalModel,
    readonly vae: Vae,
    private readonly providers: readonly Provider[],
    private readonly sessions: ModelSessions,
  ) {}

  static load(path: string, family: ClassConditionalFamily, o: ClassConditionalLoadOptions = {}): ClassConditionalPipeline {
    const providers = o.providers ?? ['cpu'];
    const sessions = o.sessions ?? ModelSessions.standalone(family);
    const vae = loadDitVae(o.vae, path, providers, sessions.child('vae'));
    return new ClassConditionalPipeline(openClassConditional(path, family), vae, providers, sessions);
  }

  get family(): ClassConditionalFamily {
    return this.model.family;
  }

  get defaults(): { steps: number; cfg: number } {
    return CLASS_CONDITIONAL_DEFAULTS[this.model.family];
  }

  /** Where the weights came from, for the run's notes (the `ema` sub-dict of a training checkpoint, …). */
  describeWeights(): string[] {
    const w = this.model.weights;
    const notes: string[] = [];
    if ('selected' in w && w.selected) notes.push(`weights: the "${w.selected}" entry of the checkpoint (top-level keys: ${w.topLevelKeys.join(', ')})`);
    if (this.model.configFrom !== 'tensor shapes') notes.push(`config: ${this.model.configFrom}`);
    return notes;
  }

  private denoiser(images: number, guided: boolean, h: number, w: number): Promise<Session> {
    const build = () => {
      try {
        return this.model.buildGraph({ batch: images, height: h, width: w, guidance: guided ? {} : undefined });
      } catch (e) {
        if (e instanceof GraphError) throw new BadRequestError(e.message);
        throw e;
      }
    };
    return this.sessions.get(`denoiser/${images}|${guided}|${h}x${w}`, build, { providers: this.providers });
  }

  async generate(o: ClassConditionalGenerateOptions): Promise<ClassConditionalResult> {
    const m = this.model;
    const s = this.settings(o);
    const images = o.images ?? 1;
    if (!Number.isInteger(images) || images < 1 || images > MAX_CLASS_IMAGES) throw new BadRequestError(`images = ${images}: must be a whole number from 1 to ${MAX_CLASS_IMAGES}`);
    if (!Number.isInteger(o.classLabel) || o.classLabel < 0 || o.classLabel >= m.numClasses) {
      throw new BadRequestError(`class ${o.classLabel}: ${m.path} draws classes 0 to ${m.numClasses - 1}${m.numClasses === 1000 ? ' (ImageNet; e.g. 207 is golden retriever)' : ''}`);
    }
    const guided = s.cfg > 1;
    if (guided && !m.hasNullClass) throw new BadRequestError(`cfg ${s.cfg}: ${m.path} has no null class to guide with; use --cfg 1`);
    let seed: bigint;
    try {
      seed = parseSeed(o.seed);
    } catch (e) {
      throw new BadRequestError(`seed: ${(e as Error).message}`);
    }
    const timings: Record<string, number> = {};
    const h = s.height / VAE_FACTOR;
    const w = s.width / VAE_FACTOR;
    const c = m.inChannels;
    const dims = [images, c, h, w] as const;
    const size = images * c * h * w;
    if (o.initialNoise && o.initialNoise.length !== size) throw new BadRequestError(`initialNoise has ${o.initialNoise.length} values; [${dims}] needs ${size}`);

    let t0 = performance.now();
    const session = await this.denoiser(images, guided, h, w);
    timings.build = performance.now() - t0;

    // The reference runs the loop on the doubled batch [z, z] when guiding: every step's randn_like
    // draws noise for 2n latents, of which the first n (the conditional half) are kept.
    const generator = new TorchGenerator(seed);
    let x = o.initialNoise ? o.initialNoise.slice() : generator.randn(dims);
    const noiseDims = guided ? [2 * images, c, h, w] : dims;
    const schedule = spacedSchedule(linearBetas(), spaceTimesteps(TRAIN_STEPS, [s.steps]));
    const labels = new ort.Tensor('int64', BigInt64Array.from({ length: images }, () => BigInt(o.classLabel)), [images]);
    const latentsPerStep: Float32Array[] = [];
    t0 = performance.now();
    for (let i = s.steps - 1; i >= 0; i--) {
      o.signal?.throwIfAborted();
      const feeds: Record<string, ort.Tensor> = {
        x: tensor(x, dims),
        t: tensor(new Float32Array(images).fill(schedule.timestepMap[i]), [images]),
        y: labels,
      };
      if (guided) feeds.cfg_scale = tensor(Float32Array.of(s.cfg), [1]);
      const out = (await session.run(feeds)).out.data as Float32Array;
      x = pSample(schedule, i, { images, x, modelOut: out, outChannels: m.outChannels, channels: c, noise: generator.randn(noiseDims) });
      latentsPerStep.push(x);
      await o.onStep?.(s.steps - 1 - i, s.steps, x);
    }
    o.signal?.throwIfAborted();
    timings.denoise = performance.now() - t0;

    t0 = performance.now();
    const decoded = await this.vae.decode({ data: x, dims });
    timings.decode = performance.now() - t0;
    const notes = recoveryNotes(decoded.recoveredFrom);
    return {
      images: toNhwc01(decoded.data, images, s.height, s.width),
      count: images,
      width: s.width,
      height: s.height,
      latentsPerStep,
      timings,
      provider: session.provider,
      settings: s,
      notes,
    };
  }

  private settings(o: ClassConditionalGenerateOptions): { steps: number; cfg: number; width: number; height: number } {
    const m = this.model;
    const steps = o.steps ?? this.defaults.steps;
    const cfg = o.cfg ?? this.defaults.cfg;
    const width = o.width ?? m.nativeSize;
    const height = o.height ?? m.nativeSize;
    if (!Number.isInteger(steps) || steps < 2 || steps > TRAIN_STEPS) throw new BadRequestError(`steps = ${steps}: the learned-variance DDPM sampler takes 2 to ${TRAIN_STEPS} steps (default ${this.defaults.steps})`);
    if (!Number.isFinite(cfg) || cfg < 1) throw new BadRequestError(`cfg = ${cfg}: must be >= 1 for ${m.architecture} (1 = no guidance; default ${this.defaults.cfg})`);
    const multiple = VAE_FACTOR * m.latentMultiple;
    for (const [name, v] of [['width', width], ['height', height]] as const) {
      if (!Number.isInteger(v) || v < multiple || v % multiple !== 0) {
        throw new BadRequestError(`${name} ${v}: this ${m.architecture} draws sides that are multiples of ${multiple} pixels (trained at ${m.nativeSize})`);
      }
    }
    return { steps, cfg, width, height };
  }

  release(): Promise<void> {
    return this.sessions.release();
  }
}
