// SD3 / SD3.5 text-to-image, read top to bottom: encode prompts (CLIP-L, CLIP-G, optional T5) →
// noise → flow-matching sampling with CFG (+ SoftPAG/PAG heads) → VAE decode. Batch order and
// arithmetic follow diffusers' StableDiffusion3Pipeline (and its PAG variant).
import { vaeScale } from '../../models/vae/config.ts';
import { buildMmditGraph, mmditAttentionLayers, MMDIT_OUTPUT } from '../../models/mmdit/model.ts';
import { headWeightsData, HEAD_WEIGHTS_INPUT } from '../../attention/head-perturbation.ts';
import { TorchGenerator } from '../../random/torch-randn.ts';
import { getSampler, type SchedulerConfig } from '../../samplers/index.ts';
import { tensor } from '../../runtime/session.ts';
import type { ModelSessions } from '../../runtime/session-cache.ts';
import { TextLatentPipeline, type TextLatentPipelineOptions, type TextLatentResult, type TextLatentRunOptions } from '../text-latent-pipeline.ts';
import { batchRows, combine, promptRows, usesPerturbation, type GuidancePlan } from '../../guidance/cfg-pag.ts';
import { Sd3TextEncoders } from './text.ts';
import type { Sd3Sources } from './sources.ts';
import type { PromptImageOptions } from '../prompt-image-options.ts';

export interface Sd3GenerateOptions extends PromptImageOptions, TextLatentRunOptions {}

export type Sd3Result = TextLatentResult;

export class Sd3Pipeline extends TextLatentPipeline<Sd3Sources, Sd3TextEncoders> {
  constructor(sources: Sd3Sources, o: TextLatentPipelineOptions = {}) {
    super(sources, mmditAttentionLayers(sources.transformerConfig), o, 'sd3');
  }

  protected createEncoders(t5Tokens: number, sessions: ModelSessions): Promise<Sd3TextEncoders> {
    return Sd3TextEncoders.create(this.sources, t5Tokens, this.o.providers, sessions);
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
    const session = await this.transformer([layout.length, h, w, text.tokens, perturbedRows], () =>
      buildMmditGraph(this.sources.transformer, cfg, { batch: layout.length, height: h, width: w, textLength: text.tokens, perturbedRows, dtype: this.o.dtype }));
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
}
