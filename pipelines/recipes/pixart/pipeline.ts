// PixArt-α / Σ text-to-image, read top to bottom (diffusers' PixArtSigmaPipeline / PixArtAlphaPipeline, and
// PixArtSigmaPAGPipeline with heads): T5 with its attention mask → noise → DPM-Solver++ (the model's
// scheduler) with CFG and PAG / SoftPAG in diffusers' batch order [uncond?, cond, perturbed?] → first half
// of the learned-sigma output → VAE decode. Captions are lower-cased and trimmed, as the reference does
// without its optional caption cleaning (which needs ftfy and BeautifulSoup).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { componentWeights } from '../../checkpoints/diffusers-folder.ts';
import { readJsonObject } from '../../checkpoints/json-fields.ts';
import type { KeyedSource } from '../../checkpoints/sources.ts';
import { headWeightsData, headWeightsShape, HEAD_WEIGHTS_INPUT, type HeadPick } from '../../attention/head-perturbation.ts';
import type { SelfAttentionLayer } from '../../attention/self-attention.ts';
import { batchRows, combine, promptRows, usesCfg, usesPerturbation, type GuidancePlan } from '../../guidance/cfg-pag.ts';
import { pixartConfigFromDiffusers, type PixArtConfig } from '../../models/pixart/config.ts';
import { buildPixArtGraph, PIXART_OUTPUT } from '../../models/pixart/model.ts';
import { pixartAttentionLayers } from '../../models/pixart/self-attention.ts';
import { t5ConfigFromHf } from '../../models/t5/config.ts';
import { buildT5Graph } from '../../models/t5/encoder.ts';
import { vaeConfigFromDiffusers, vaeScale } from '../../models/vae/config.ts';
import { Vae } from '../../models/vae/vae.ts';
import { TorchGenerator } from '../../random/torch-randn.ts';
import { ort, tensor, type Provider } from '../../runtime/session.ts';
import { ModelSessions } from '../../runtime/session-cache.ts';
import { getSampler, type SchedulerConfig } from '../../samplers/index.ts';
import { T5Tokenizer } from '../../text/t5-tokenizer.ts';
import { schedulerConfig } from '../sd3/sources.ts';
import type { PromptImageOptions } from '../prompt-image-options.ts';
import { pixartSources } from './sources.ts';

export interface PixArtGenerateOptions extends PromptImageOptions {
  /** T5 tokens; default: the model's (`t5Tokens`). */
  t5Tokens?: number;
  sampler?: string;
  /** PAG / SoftPAG heads; layer indices follow `layers` (block i's self-attention). */
  heads?: { scale: number; picks: readonly HeadPick[] };
}

export class PixArtPipeline {
  readonly config: PixArtConfig;
  readonly vae: Vae;
  /** The diffusers folder the T5, VAE, scheduler and config come from. */
  readonly dir: string;
  /** What the transformer's weights are (a diffusers folder, or a PixArt / LiT file over one). */
  readonly description: string;
  /** Self-attention layers in execution order, with their head counts (LiT layers have few heads). */
  readonly layers: SelfAttentionLayer[];
  private readonly transformer: KeyedSource;
  private readonly scheduler: SchedulerConfig;

  /**
   * `target`: a diffusers PixArt folder, or a PixArt / LiT transformer file with such a folder beside it
   * (./sources.ts). `sessions`: where its sessions live (given by WarmModels); absent: its own.
   */
  constructor(target: string, private readonly providers?: readonly Provider[], private readonly sessions = ModelSessions.standalone('pixart')) {
    const sources = pixartSources(target);
    const dir = (this.dir = sources.dir);
    this.description = sources.description;
    for (const c of ['transformer', 'vae', 'text_encoder', 'tokenizer']) {
      if (!existsSync(join(dir, c))) throw new Error(`${dir}: a PixArt pipeline folder needs ${c}/ (T5 in text_encoder/ with its tokenizer.json in tokenizer/)`);
    }
    this.config = pixartConfigFromDiffusers(readJsonObject(join(dir, 'transformer', 'config.json')), join(dir, 'transformer', 'config.json'));
    this.transformer = sources.transformer;
    this.layers = pixartAttentionLayers(this.config, this.transformer);
    this.vae = new Vae(componentWeights(join(dir, 'vae'), 'diffusion_pytorch_model'), vaeConfigFromDiffusers(readJsonObject(join(dir, 'vae', 'config.json')), join(dir, 'vae', 'config.json')), { session: { providers }, sessions: sessions.child('vae') });
    this.scheduler = schedulerConfig(readJsonObject(join(dir, 'scheduler', 'scheduler_config.json'))) as SchedulerConfig;
  }

  /** diffusers' T5 length: 300 tokens for Σ, 120 for α (the one with size conditioning). */
  get t5Tokens(): number {
    return this.config.additionalConditions ? 120 : 300;
  }

  /** T5 features and masks of [negative, prompt], each `tokens` long. */
  async encode(prompts: readonly string[], tokens: number): Promise<{ hidden: Float32Array; mask: Int32Array }> {
    const tokenizer = T5Tokenizer.load(join(this.dir, 'tokenizer'));
    const cfg = t5ConfigFromHf(readJsonObject(join(this.dir, 'text_encoder', 'config.json')), join(this.dir, 'text_encoder', 'config.json'));
    // T5 is released once the prompts are encoded: T5-XXL is larger than the transformer it feeds.
    const t5 = this.sessions.child('t5');
    const session = await t5.get(`${tokens}`, () => buildT5Graph(componentWeights(join(this.dir, 'text_encoder'), 'model'), cfg, { seqLen: tokens, masked: true }), { providers: this.providers });
    const ids = new Int32Array(prompts.length * tokens);
    const mask = new Int32Array(prompts.length * tokens);
    prompts.forEach((p, r) => {
      const e = tokenizer.encodePadded(p.toLowerCase().trim(), tokens);
      ids.set(e.ids, r * tokens);
      mask.set(e.mask, r * tokens);
    });
    const dims = [prompts.length, tokens];
    const out = await session.run({ input_ids: new ort.Tensor('int32', ids, dims), attention_mask: new ort.Tensor('int32', mask, dims) });
    await t5.release();
    return { hidden: out.hidden_state.data as Float32Array, mask };
  }

  async generate(o: PixArtGenerateOptions): Promise<{ image: Float32Array; latentsPerStep: Float32Array[] }> {
    const cfg = this.config;
    const scale = vaeScale(this.vae.config);
    const [h, w] = [o.height / scale, o.width / scale];
    const tokens = o.t5Tokens ?? this.t5Tokens;
    const plan: GuidancePlan = { cfg: o.cfg, pag: o.heads?.scale ?? 0 };
    const guided = usesCfg(plan);
    const text = await this.encode(guided ? [o.negative ?? '', o.prompt] : [o.prompt], tokens);
    const order = promptRows(plan, 1, guided ? { negative: 0, prompt: 1 } : { negative: 0, prompt: 0 });
    const rows = order.length;
    const perRowText = tokens * cfg.captionChannels;
    const hidden = new Float32Array(rows * perRowText);
    const mask = new Int32Array(rows * tokens);
    order.forEach((p, r) => {
      hidden.set(text.hidden.subarray(p * perRowText, (p + 1) * perRowText), r * perRowText);
      mask.set(text.mask.subarray(p * tokens, (p + 1) * tokens), r * tokens);
    });
    const perturbedRows = usesPerturbation(plan) ? 1 : 0;
    const build = () => buildPixArtGraph(this.transformer, cfg, { batch: rows, height: h, width: w, textLength: tokens, perturbedRows });
    const session = await this.sessions.get(`transformer/${rows}|${h}x${w}|${tokens}|${perturbedRows}`, build, { providers: this.providers });
    const fixed: Record<string, ort.Tensor> = {
      encoder_hidden_states: tensor(hidden, [rows, tokens, cfg.captionChannels]),
      encoder_attention_mask: new ort.Tensor('int32', mask, [rows, tokens]),
    };
    if (cfg.additionalConditions) {
      fixed.resolution = tensor(new Float32Array(rows * 2).map((_, i) => (i % 2 ? o.width : o.height)), [rows, 2]);
      fixed.aspect_ratio = tensor(new Float32Array(rows).fill(o.height / o.width), [rows, 1]);
    }
    if (perturbedRows) fixed[HEAD_WEIGHTS_INPUT] = tensor(headWeightsData(this.layers, o.heads!.picks), headWeightsShape(this.layers));
    const size = cfg.inChannels * h * w;
    const latentsPerStep: Float32Array[] = [];
    const final = await getSampler(o.sampler ?? 'dpmpp_2m').sample({
      model: async (xIn, timestep) => {
        const out = (await session.run({
          ...fixed,
          hidden_states: tensor(batchRows(plan, xIn), [rows, cfg.inChannels, h, w]),
          timestep: tensor(new Float32Array(rows).fill(timestep), [rows]),
        }))[PIXART_OUTPUT].data as Float32Array;
        // ε is the first in_channels of each row's output (the rest is the learned variance).
        const perRow = cfg.outChannels * h * w;
        const eps = new Float32Array(rows * size);
        for (let r = 0; r < rows; r++) eps.set(out.subarray(r * perRow, r * perRow + size), r * size);
        return combine(plan, eps, size);
      },
      x: new TorchGenerator(o.seed).randn([1, cfg.inChannels, h, w]),
      config: this.scheduler, steps: o.steps, startIndex: 0,
      onStep: (_i, latents) => void latentsPerStep.push(latents.slice()),
    });
    const decoded = await this.vae.decode({ data: final, dims: [1, cfg.inChannels, h, w] });
    const plane = o.height * o.width;
    const image = new Float32Array(plane * 3);
    for (let c = 0; c < 3; c++) for (let p = 0; p < plane; p++) image[p * 3 + c] = Math.min(1, Math.max(0, decoded.data[c * plane + p] / 2 + 0.5));
    return { image, latentsPerStep };
  }

  release(): Promise<void> {
    return this.sessions.release();
  }
}
