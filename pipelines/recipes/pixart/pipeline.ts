// PixArt-α / Σ text-to-image, read top to bottom (diffusers' PixArtSigmaPipeline / PixArtAlphaPipeline):
// T5 with its attention mask → noise → DPM-Solver++ (the model's scheduler) with CFG → first half of the
// learned-sigma output → VAE decode. Captions are lower-cased and trimmed, as the reference does without
// its optional caption cleaning (which needs ftfy and BeautifulSoup).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { componentWeights } from '../../checkpoints/diffusers-folder.ts';
import { readJsonObject } from '../../checkpoints/json-fields.ts';
import type { KeyedSource } from '../../checkpoints/sources.ts';
import { pixartConfigFromDiffusers, type PixArtConfig } from '../../models/pixart/config.ts';
import { buildPixArtGraph, PIXART_OUTPUT } from '../../models/pixart/model.ts';
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

export interface PixArtGenerateOptions extends PromptImageOptions {
  /** T5 tokens (300 for Σ, 120 for α in diffusers). */
  t5Tokens?: number;
  sampler?: string;
}

export class PixArtPipeline {
  readonly config: PixArtConfig;
  readonly vae: Vae;
  private readonly transformer: KeyedSource;
  private readonly scheduler: SchedulerConfig;

  /** `sessions`: where its sessions live (given by WarmModels); absent: its own. */
  constructor(readonly dir: string, private readonly providers?: readonly Provider[], private readonly sessions = ModelSessions.standalone('pixart')) {
    for (const c of ['transformer', 'vae', 'text_encoder', 'tokenizer']) {
      if (!existsSync(join(dir, c))) throw new Error(`${dir}: a PixArt pipeline folder needs ${c}/ (T5 in text_encoder/ with its tokenizer.json in tokenizer/)`);
    }
    this.config = pixartConfigFromDiffusers(readJsonObject(join(dir, 'transformer', 'config.json')), join(dir, 'transformer', 'config.json'));
    this.transformer = componentWeights(join(dir, 'transformer'), 'diffusion_pytorch_model');
    this.vae = new Vae(componentWeights(join(dir, 'vae'), 'diffusion_pytorch_model'), vaeConfigFromDiffusers(readJsonObject(join(dir, 'vae', 'config.json')), join(dir, 'vae', 'config.json')), { session: { providers }, sessions: sessions.child('vae') });
    this.scheduler = schedulerConfig(readJsonObject(join(dir, 'scheduler', 'scheduler_config.json'))) as SchedulerConfig;
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
    const tokens = o.t5Tokens ?? 300;
    const guided = o.cfg > 1;
    const text = await this.encode(guided ? [o.negative ?? '', o.prompt] : [o.prompt], tokens);
    const rows = guided ? 2 : 1;
    const build = () => buildPixArtGraph(this.transformer, cfg, { batch: rows, height: h, width: w, textLength: tokens });
    const session = await this.sessions.get(`transformer/${rows}|${h}x${w}|${tokens}`, build, { providers: this.providers });
    const sizes: Record<string, ort.Tensor> = cfg.additionalConditions
      ? { resolution: tensor(new Float32Array(rows * 2).map((_, i) => (i % 2 ? o.width : o.height)), [rows, 2]), aspect_ratio: tensor(new Float32Array(rows).fill(o.height / o.width), [rows, 1]) }
      : {};
    const size = cfg.inChannels * h * w;
    const latentsPerStep: Float32Array[] = [];
    const final = await getSampler(o.sampler ?? 'dpmpp_2m').sample({
      model: async (xIn, timestep) => {
        const x = new Float32Array(rows * size);
        for (let r = 0; r < rows; r++) x.set(xIn, r * size);
        const out = (await session.run({
          hidden_states: tensor(x, [rows, cfg.inChannels, h, w]),
          timestep: tensor(new Float32Array(rows).fill(timestep), [rows]),
          encoder_hidden_states: tensor(text.hidden, [rows, tokens, cfg.captionChannels]),
          encoder_attention_mask: new ort.Tensor('int32', text.mask, [rows, tokens]),
          ...sizes,
        }))[PIXART_OUTPUT].data as Float32Array;
        // ε is the first in_channels of each row's output (the rest is the learned variance).
        const perRow = cfg.outChannels * h * w;
        const eps = (r: number) => out.subarray(r * perRow, r * perRow + size);
        if (!guided) return eps(0).slice();
        const [u, c] = [eps(0), eps(1)];
        return Float32Array.from(u, (v, i) => v + o.cfg * (c[i] - v));
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
