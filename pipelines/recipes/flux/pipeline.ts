// FLUX.1 text-to-image, read top to bottom as diffusers' FluxPipeline: encode the prompt (CLIP-L pooled,
// T5 tokens) → noise → flow-matching Euler over the sigmas linspace(1, 1/steps) with dev's
// resolution-dependent shift → VAE decode (latents / scaling + shift). dev takes the guidance scale as a
// transformer input (one model call per step, no CFG); schnell has no guidance at all. SoftPAG / PAG heads
// add a perturbed branch: v = cond + scale·(cond − perturbed).
import { vaeScale } from '../../models/vae/config.ts';
import { buildFluxGraph, fluxAttentionLayers, FLUX_OUTPUT } from '../../models/flux/model.ts';
import { headWeightsData, HEAD_WEIGHTS_INPUT } from '../../attention/head-perturbation.ts';
import { TorchGenerator } from '../../random/torch-randn.ts';
import { getSampler, type SchedulerConfig } from '../../samplers/index.ts';
import { flowShiftMu } from '../../samplers/flow-euler.ts';
import { linspace } from '../../samplers/numpy-compat.ts';
import { tensor } from '../../runtime/session.ts';
import type { ModelSessions } from '../../runtime/session-cache.ts';
import { TextLatentPipeline, type TextLatentPipelineOptions, type TextLatentResult, type TextLatentRunOptions } from '../text-latent-pipeline.ts';
import { batchRows, combine, usesPerturbation, type GuidancePlan } from '../../guidance/cfg-pag.ts';
import { toNhwc01 } from '../images.ts';
import { FluxTextEncoders } from './text.ts';
import type { FluxSources } from './sources.ts';

export interface FluxGenerateOptions extends TextLatentRunOptions {
  prompt: string;
  steps: number;
  /** dev: the distilled guidance scale the transformer takes as an input (not CFG); schnell has none and ignores it. */
  cfg: number;
  seed: number | bigint;
  width: number;
  height: number;
}

/** latentsPerStep are unpacked: [images, 16, h, w]. */
export type FluxResult = TextLatentResult;

export class FluxPipeline extends TextLatentPipeline<FluxSources, FluxTextEncoders> {
  constructor(sources: FluxSources, o: TextLatentPipelineOptions = {}) {
    super(sources, fluxAttentionLayers(sources.transformerConfig), o, 'flux');
  }

  protected createEncoders(t5Tokens: number, sessions: ModelSessions): Promise<FluxTextEncoders> {
    return FluxTextEncoders.create(this.sources, t5Tokens, this.o.providers, sessions);
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
    const perturbedRows = usesPerturbation(plan) ? images : 0;
    const session = await this.transformer([rows, h, w, t5Tokens, perturbedRows], () =>
      buildFluxGraph(this.sources.transformer, cfg, { batch: rows, height: h, width: w, textLength: t5Tokens, perturbedRows, dtype: this.o.dtype }));
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
}
