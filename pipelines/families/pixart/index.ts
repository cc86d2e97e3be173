// PixArt-α / Σ (DiT with cross-attention to T5, adaLN-single): diffusers folders, DPM-Solver++ by
// default, CFG. Head guidance and LiT's linear attention are not wired for PixArt yet.
import { basename } from 'node:path';
import { resolveSettings } from '../../jobs/api.ts';
import { SAMPLER_NAMES } from '../../samplers/names.ts';
import { PixArtPipeline } from '../../recipes/pixart/pipeline.ts';
import { detectedAs, supports } from '../declare.ts';
import { generateResult } from '../results.ts';
import type { ModelFamily } from '../types.ts';

/** PixArt-Σ's card: 20 steps, CFG 4.5, 1024²; T5 reads 300 tokens (α: 120). */
const DEFAULTS = { steps: 20, cfg: 4.5, sampler: 'dpmpp_2m', width: 1024, height: 1024 } as const;

export const pixart: ModelFamily<PixArtPipeline> = {
  id: 'pixart',
  label: 'PixArt-α / Σ',
  score: detectedAs('pixart'),
  defaults: DEFAULTS,
  methods: supports('pixart', {}),
  samplers: SAMPLER_NAMES.filter((s) => s !== 'flow_euler'),
  refusal: (model) => `${model} (PixArt-α / Σ)`,
  load: (target, o) => new PixArtPipeline(target, o.providers, o.sessions),

  async generate(pipeline, probe, request) {
    const settings = resolveSettings(request, DEFAULTS);
    const t5Tokens = pipeline.config.additionalConditions ? 120 : 300;
    const drawn: Float32Array[] = [];
    for (let n = 0; n < request.batch; n++) {
      const r = await pipeline.generate({ prompt: request.prompt, negative: request.negative, steps: settings.steps, cfg: settings.cfg, sampler: settings.sampler, seed: request.seed + n, width: settings.width, height: settings.height, t5Tokens });
      drawn.push(r.image);
    }
    const images = new Float32Array(drawn.reduce((a, d) => a + d.length, 0));
    drawn.forEach((d, i) => images.set(d, i * d.length));
    const notes = request.batch > 1 ? [`PixArt draws each image of a batch from its own generator: image n uses seed ${request.seed} + n`] : [];
    return generateResult({ images, count: drawn.length, width: settings.width, height: settings.height, provider: 'cpu', timings: {} }, request, settings, { name: basename(probe.target), family: 'pixart' }, 0, notes);
  },
};
