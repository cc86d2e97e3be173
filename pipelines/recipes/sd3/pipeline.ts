// SD3 / SD3.5 text-to-image, read top to bottom: encode prompts (CLIP-L, CLIP-G, optional T5) →
// noise → flow-matching sampling with CFG (+ SoftPAG/PAG heads) → VAE decode. Batch order and
// arithmetic follow diffusers' StableDiffusion3Pipeline (and its PAG variant).
import { Vae } from '../../models/vae/vae.ts';
import { vaeScale } from '../../models/vae/config.ts';
import { buildMmditGraph, mmditAttentionLayers, MMDIT_OUTPUT } from '../../models/mmdit/model.ts';
import { headWeightsData, HEAD_WEIGHTS_INPUT, type HeadPick } from '../../attention/head-perturbation.ts';
import type { SelfAttentionLayer } from '../../attention/self-attention.ts';
import { TorchGenerator } from '../../random/torch-randn.ts';
import { getSampler, type SchedulerConfig } from '../../samplers/index.ts';
import { tensor, type Provider, type Session } from '../../runtime/session.ts';
import { ModelSessions } from '../../runtime/session-cache.ts';
import { batchRows, combine, promptRows, usesPerturbation, type GuidancePlan } from '../../guidance/cfg-pag.ts';
import { Sd3TextEncoders } from './text.ts';
import type { Sd3Sources } from './sources.ts';
import type { PromptImageOptions } from '../prompt-image-options.ts';

export interface Sd3GenerateOptions extends PromptImageOptions {
  /** T5 tokens (diffusers' max_sequence_length, 256 by default). */
  t5Tokens?: number;
  /** Images per prompt; their noise comes from the one generator, as diffusers draws it. */
  images?: number;
  /** Flow sampler (flow_euler by default, SD3's scheduler). */
  sampler?: string;
  /** SoftPAG / PAG / HeadHunter heads: layer indices follow `layers` (block i's attn, then its attn2). */
  heads?: { scale: number; picks: readonly HeadPick[] };
  onStep?: (step: number, total: number, latents: Float32Array) => void | Promise<void>;
  signal?: AbortSignal;
}

export interface Sd3Result {
  /** [count, height, width, 3] in [0, 1], as diffusers' numpy output. */
  images: Float32Array;
  count: number;
  width: number;
  height: number;
  latentsPerStep: Float32Array[];
  provider: Provider;
}

export class Sd3Pipeline {
  readonly layers: SelfAttentionLayer[];
  readonly vae: Vae;
  private readonly sessions: ModelSessions;
  private text?: { tokens: number; encoders: Promise<Sd3TextEncoders> };

  /** `sessions`: where its sessions live (given by WarmModels); absent: its own. */
  constructor(readonly sources: Sd3Sources, private readonly o: { providers?: readonly Provider[]; dtype?: 'float32' | 'float16'; sessions?: ModelSessions } = {}) {
    this.layers = mmditAttentionLayers(sources.transformerConfig);
    this.sessions = o.sessions ?? ModelSessions.standalone('sd3');
    this.vae = new Vae(sources.vae, sources.vaeConfig, { session: { providers: o.providers }, sessions: this.sessions.child('vae') });
  }

  private encoders(t5Tokens: number): Promise<Sd3TextEncoders> {
    if (!this.text || this.text.tokens !== t5Tokens) {
      void this.text?.encoders.then((e) => e.release());
      this.text = { tokens: t5Tokens, encoders: Sd3TextEncoders.create(this.sources, t5Tokens, this.o.providers, this.sessions.child(`text/${t5Tokens}`)) };
    }
    return this.text.encoders;
  }

  private transformer(batch: number, height: number, width: number, textLength: number, perturbedRows: number): Promise<Session> {
    const key = JSON.stringify([batch, height, width, textLength, perturbedRows]);
    const build = () => buildMmditGraph(this.sources.transformer, this.sources.transformerConfig, { batch, height, width, textLength, perturbedRows, dtype: this.o.dtype });
    return this.sessions.get(`transformer/${key}`, build, { providers: this.o.providers });
  }

  async generate(o: Sd3GenerateOptions): Promise<Sd3Result> {
    const cfg = this.sources.transformerConfig;
    const factor = vaeScale(this.sources.vaeConfig) * cfg.patchSize;
    if (o.width % factor || o.height % factor) throw new RangeError(`SD3: image size ${o.width}×${o.height} must be a multiple of ${factor} on both sides`);
    const [h, w] = [o.height / vaeScale(this.sources.vaeConfig), o.width / vaeScale(this.sources.vaeConfig)];
    const channels = cfg.inChannels;
    const images = o.images ?? 1;
    const size = images * channels * h * w;
    const plan: GuidancePlan = { cfg: o.cfg, pag: o.heads?.scale ?? 0 };

    // 1. Prompts → [uncond?, cond, perturbed-cond?] rows.
    const text = await (await this.encoders(o.t5Tokens ?? 256)).encode([o.negative ?? '', o.prompt]);
    const layout = promptRows(plan, images, { negative: 0, prompt: 1 });
    const rowsOf = (data: Float32Array, per: number) => {
      const out = new Float32Array(layout.length * per);
      layout.forEach((row, i) => out.set(data.subarray(row * per, (row + 1) * per), i * per));
      return out;
    };
    const jointWidth = cfg.jointAttentionDim;
    const context = tensor(rowsOf(text.context, text.tokens * jointWidth), [layout.length, text.tokens, jointWidth]);
    const pooled = tensor(rowsOf(text.pooled, cfg.pooledProjectionDim), [layout.length, cfg.pooledProjectionDim]);
    o.signal?.throwIfAborted();

    // 2. Noise from one CPU generator, as diffusers draws it.
    const generator = new TorchGenerator(o.seed);
    const x = generator.randn([images, channels, h, w]);

    // 3. Denoise.
    const perturbedRows = usesPerturbation(plan) ? images : 0;
    const headWeights = o.heads ? tensor(headWeightsData(this.layers, o.heads.picks), [this.layers.length, cfg.heads]) : undefined;
    const session = await this.transformer(layout.length, h, w, text.tokens, perturbedRows);
    const latentsPerStep: Float32Array[] = [];
    const final = await getSampler(o.sampler ?? 'flow_euler').sample({
      model: async (xIn, timestep) => {
        o.signal?.throwIfAborted();
        const out = await session.run({
          hidden_states: tensor(batchRows(plan, xIn), [layout.length, channels, h, w]),
          encoder_hidden_states: context,
          pooled_projections: pooled,
          timestep: tensor(new Float32Array(layout.length).fill(timestep), [layout.length]),
          ...(headWeights ? { [HEAD_WEIGHTS_INPUT]: headWeights } : {}),
        });
        return combine(plan, out[MMDIT_OUTPUT].data as Float32Array, size);
      },
      x, config: this.sources.scheduler as SchedulerConfig, steps: o.steps, generator, startIndex: 0,
      onStep: async (i, latents, total) => {
        latentsPerStep.push(latents.slice());
        await o.onStep?.(i, total, latents);
      },
    });

    // 4. Decode to [0, 1] RGB, HWC.
    const decoded = await this.vae.decode({ data: final, dims: [images, channels, h, w] });
    const plane = o.height * o.width;
    const out = new Float32Array(images * plane * 3);
    for (let n = 0; n < images; n++) {
      for (let c = 0; c < 3; c++) {
        for (let p = 0; p < plane; p++) {
          const v = decoded.data[(n * 3 + c) * plane + p] / 2 + 0.5;
          out[(n * plane + p) * 3 + c] = v < 0 ? 0 : v > 1 ? 1 : v;
        }
      }
    }
    return { images: out, count: images, width: o.width, height: o.height, latentsPerStep, provider: session.provider };
  }

  release(): Promise<void> {
    this.text = undefined;
    return this.sessions.release();
  }
}
