// PixArt-α / Σ (DiT with cross-attention to T5, adaLN-single): diffusers folders, or a PixArt / LiT
// transformer file in PixArt's own layout with such a folder beside it; Σ's KV compression from the
// transformer config, LiT's linear attention from its weights; DPM-Solver++ by default, CFG, and PAG /
// SoftPAG / HeadHunter heads on each block's self-attention (diffusers' PixArtSigmaPAGPipeline order).
import { basename } from 'node:path';
import { resolveSettings } from '../../jobs/api.ts';
import { SAMPLER_NAMES } from '../../samplers/names.ts';
import { matchPagLayers } from '../../models/unet/layers.ts';
import { PixArtPipeline } from '../../recipes/pixart/pipeline.ts';
import { inspectPixArtHeads, pixartPreviewPipeline } from '../../heads/pixart-model.ts';
import { TransformerHeadModel } from '../../heads/transformer-model.ts';
import { detectedAs, supports } from '../declare.ts';
import { generateResult, headPicks, promptSettings } from '../results.ts';
import type { ModelFamily } from '../types.ts';

/** PixArt-Σ's card: 20 steps, CFG 4.5, 1024²; T5 reads 300 tokens (α: 120). */
const DEFAULTS = { steps: 20, cfg: 4.5, sampler: 'dpmpp_2m', width: 1024, height: 1024 } as const;

/** Head previews: small and few steps, CFG off (as HeadHunter searches without guidance). */
const PREVIEW = { size: 256, steps: 10, cfg: 1 } as const;

export const pixart: ModelFamily<PixArtPipeline> = {
  id: 'pixart',
  label: 'PixArt-α / Σ',
  score: detectedAs('pixart'),
  defaults: DEFAULTS,
  methods: supports('pixart', { pag: true, softpag: true, headhunter: true }),
  samplers: SAMPLER_NAMES.filter((s) => s !== 'flow_euler'),
  refusal: (model) => `${model} (PixArt-α / Σ)`,
  load: (target, o) => new PixArtPipeline(target, o.providers, o.sessions),

  async generate(pipeline, probe, request) {
    const settings = resolveSettings(request, DEFAULTS);
    const heads = headPicks(request, pipeline.layers, (names) => matchPagLayers(pipeline.layers, names));
    const drawn: Float32Array[] = [];
    for (let n = 0; n < request.batch; n++) {
      const r = await pipeline.generate({ ...promptSettings(request, settings), seed: request.seed + n, width: settings.width, height: settings.height, heads });
      drawn.push(r.image);
    }
    const images = new Float32Array(drawn.reduce((a, d) => a + d.length, 0));
    drawn.forEach((d, i) => images.set(d, i * d.length));
    const notes = request.batch > 1 ? [`PixArt draws each image of a batch from its own generator: image n uses seed ${request.seed} + n`] : [];
    if (pipeline.description !== 'a PixArt diffusers folder') notes.push(`transformer: ${pipeline.description}`);
    return generateResult({ images, count: drawn.length, width: settings.width, height: settings.height, provider: 'cpu', timings: {} }, request, settings, { name: basename(probe.target), family: 'pixart' }, 0, notes);
  },

  heads: {
    inspect: (target) => inspectPixArtHeads(target),
    previewModel: (pipeline, s) => ({
      model: new TransformerHeadModel('pixart', pixartPreviewPipeline(pipeline), { prompt: s.prompt, negative: s.negative, steps: s.steps ?? PREVIEW.steps, cfg: s.cfg ?? PREVIEW.cfg }, 'dpmpp_2m'),
      size: s.size ?? PREVIEW.size,
    }),
  },
};
