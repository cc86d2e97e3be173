// FLUX.1 text-to-image, read top to bottom as diffusers' FluxPipeline: encode the prompt (CLIP-L pooled,
// T5 tokens) → noise → flow-matching Euler over the sigmas linspace(1, 1/steps) with dev's
// resolution-dependent shift → VAE decode (latents / scaling + shift). dev takes the guidance scale as a
// transformer input (one model call per step, no CFG); schnell has no guidance at all. SoftPAG / PAG heads
// add a perturbed branch: v = cond + scale·(cond − perturbed).
import { Vae } from '../../models/vae/vae.ts';
import { vaeScale } from '../../models/vae/config.ts';
import { buildFluxGraph, fluxAttentionLayers, FLUX_OUTPUT } from '../../models/flux/model.ts';
import { headWeightsData, HEAD_WEIGHTS_INPUT, type HeadPick } from '../../attention/head-perturbation.ts';
import type { SelfAttentionLayer } from '../../attention/self-attention.ts';
import { TorchGenerator } from '../../random/torch-randn.ts';
import { getSampler, type SchedulerConfig } from '../../samplers/index.ts';
import { flowShiftMu } from '../../samplers/flow-euler.ts';
import { linspace } from '../../samplers/numpy-compat.ts';
import { tensor, type Provider, type Session } from '../../runtime/session.ts';
import { ModelSessions } from '../../runtime/session-cache.ts';
import { batchRows, combine, usesPerturbation, type GuidancePlan } from '../../guidance/cfg-pag.ts';
import { toNhwc01 } from '../images.ts';
import { FluxTextEncoders } from './text.ts';
import type { FluxSources } from './sources.ts';

export interface FluxGenerateOptions {
  prompt: string;
  steps: number;
  /** dev: the distilled guidance scale the transformer takes as an input (not CFG); schnell has none and ignores it. */
  cfg: number;
  seed: number | bigint;
  width: number;
  height: number;
  /** T5 tokens (diffusers' max_sequence_length, 512 by default). */
  t5Tokens?: number;
  images?: number;
  sampler?: string;
  /** SoftPAG / PAG / HeadHunter heads: layer indices follow `layers` (double blocks, then single blocks). */
  heads?: { scale: number; picks: readonly HeadPick[] };
  onStep?: (step: number, total: number, latents: Float32Array) => void | Promise<void>;
  signal?: AbortSignal;
}

export interface FluxResult {
  /** [count, height, width, 3] in [0, 1]. */
  images: Float32Array;
  count: number;
  width: number;
  height: number;
  /** Unpacked latents [images, 16, h, w] after each step. */
  latentsPerStep: Float32Array[];
  provider: Provider;
}

export class FluxPipeline {
  readonly layers: SelfAttentionLayer[];
  readonly vae: Vae;
  private readonly sessions: ModelSessions;
  private text?: { tokens: number; encoders: Promise<FluxTextEncoders> };

  /** `sessions`: where its sessions live (given by WarmModels); absent: its own. */
  constructor(readonly sources: FluxSources, private readonly o: { providers?: readonly Provider[]; dtype?: 'float32' | 'float16'; sessions?: ModelSessions } = {}) {
    this.layers = fluxAttentionLayers(sources.transformerConfig);
    this.sessions = o.sessions ?? ModelSessions.standalone('flux');
    this.vae = new Vae(sources.vae, sources.vaeConfig, { session: { providers: o.providers }, sessions: this.sessions.child('vae') });
  }

  private encoders(t5Tokens: number): Promise<FluxTextEncoders> {
    if (!this.text || this.text.tokens !== t5Tokens) {
      void this.text?.encoders.then((e) => e.release());
      this.text = { tokens: t5Tokens, encoders: FluxTextEncoders.create(this.sources, t5Tokens, this.o.providers, this.sessions.child(`text/${t5Tokens}`)) };
    }
    return this.text.encoders;
  }

  private transformer(batch: number, height: number, width: number, textLength: number, perturbedRows: number): Promise<Session> {
    const key = JSON.stringify([batch, height, width, textLength, perturbedRows]);
    const build = () => buildFluxGraph(this.sources.transformer, this.sources.transformerConfig, { batch, height, width, textLength, perturbedRows, dtype: this.o.dtype });
    return this.sessions.get(`transformer/${key}`, build, { providers: this.o.providers });
  }

  async generate(o: FluxGenerateOptions): Promise<FluxResult> {
    const cfg = this.sources.transformerConfig;
    const scale = vaeScale(this.sources.vaeConfig);
    if (o.width % (2 * scale) || o.height % (2 * scale)) throw new RangeError(`FLUX: image size ${o.width}×${o.height} must be a multiple of ${2 * scale} on both sides (the latents are packed 2×2)`);
    const [h, w] = [o.height / scale, o.width / scale];
    const channels = cfg.inChannels / 4;
    const images = o.images ?? 1;
    const size = images * channels * h * w;
    const plan: GuidancePlan = { cfg: 1, pag: o.heads?.scale ?? 0 };
    const rows = usesPerturbation(plan) ? 2 * images : images;
    const t5Tokens = o.t5Tokens ?? 512;

    // 1. The prompt, once per batch row.
    const text = await (await this.encoders(t5Tokens)).encode([o.prompt]);
    const repeat = (data: Float32Array) => {
      const out = new Float32Array(rows * data.length);
      for (let r = 0; r < rows; r++) out.set(data, r * data.length);
      return out;
    };
    const context = tensor(repeat(text.context), [rows, t5Tokens, cfg.jointAttentionDim]);
    const pooled = tensor(repeat(text.pooled), [rows, cfg.pooledProjectionDim]);
    const guidance = cfg.guidanceEmbeds ? tensor(new Float32Array(rows).fill(o.cfg), [rows]) : undefined;
    o.signal?.throwIfAborted();

    // 2. Noise [images, 16, h, w] from one CPU generator (diffusers draws it unpacked, then packs).
    const generator = new TorchGenerator(o.seed);
    const x = generator.randn([images, channels, h, w]);

    // 3. Denoise: FluxPipeline's sigmas, and μ from the packed image's token count.
    const headWeights = o.heads ? tensor(headWeightsData(this.layers, o.heads.picks), [this.layers.length, cfg.heads]) : undefined;
    const session = await this.transformer(rows, h, w, t5Tokens, usesPerturbation(plan) ? images : 0);
    const scheduler = { ...this.sources.scheduler, sigmas: linspace(1, 1 / o.steps, o.steps), mu: flowShiftMu(this.sources.scheduler, (h / 2) * (w / 2)) };
    const latentsPerStep: Float32Array[] = [];
    const final = await getSampler(o.sampler ?? 'flow_euler').sample({
      model: async (xIn, timestep) => {
        o.signal?.throwIfAborted();
        const out = await session.run({
          hidden_states: tensor(batchRows(plan, xIn), [rows, channels, h, w]),
          encoder_hidden_states: context,
          pooled_projections: pooled,
          timestep: tensor(new Float32Array(rows).fill(Math.fround(timestep / 1000)), [rows]),
          ...(guidance ? { guidance } : {}),
          ...(headWeights ? { [HEAD_WEIGHTS_INPUT]: headWeights } : {}),
        });
        return combine(plan, out[FLUX_OUTPUT].data as Float32Array, size);
      },
      x, config: scheduler as SchedulerConfig, steps: o.steps, generator, startIndex: 0,
      onStep: async (i, latents, total) => {
        latentsPerStep.push(latents.slice());
        await o.onStep?.(i, total, latents);
      },
    });

    // 4. Decode to [0, 1] RGB, HWC.
    const decoded = await this.vae.decode({ data: final, dims: [images, channels, h, w] });
    return { images: toNhwc01(decoded.data, images, o.height, o.width), count: images, width: o.width, height: o.height, latentsPerStep, provider: session.provider };
  }

  release(): Promise<void> {
    this.text = undefined;
    return this.sessions.release();
  }
}
