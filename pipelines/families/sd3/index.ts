// Stable Diffusion 3 / 3.5 (MMDiT, flow matching): diffusers folders and Stability's single files,
// CLIP-L + CLIP-G with optional T5, CFG and SoftPAG / PAG heads over the joint attention (HeadHunter's
// joint identity: a perturbed head outputs its own V for every token, text included).
import { resolveSettings } from '../../jobs/api.ts';
import { matchPagLayers } from '../../models/unet/layers.ts';
import { vaeScale } from '../../models/vae/config.ts';
import { stepPreviews, vaePreviewer } from '../../previews/previewer.ts';
import { Sd3Pipeline } from '../../recipes/sd3/pipeline.ts';
import { inspectSd3Heads, loadSd3Sources } from '../../heads/sd3-model.ts';
import { TransformerHeadModel } from '../../heads/transformer-model.ts';
import { detectedAs, supports } from '../declare.ts';
import { checkpointModel, generateResult, headPicks, promptSettings } from '../results.ts';
import type { ModelFamily } from '../types.ts';

/** stabilityai/stable-diffusion-3-medium's card: 28 steps, CFG 7, 1024². */
const DEFAULTS = { steps: 28, cfg: 7, sampler: 'flow_euler', width: 1024, height: 1024 } as const;

/** Head previews: small, few steps, CFG off (HeadHunter searches SD3 with guidance_scale 0). */
const PREVIEW = { size: 256, steps: 10, cfg: 1 } as const;

export const sd3: ModelFamily<Sd3Pipeline> = {
  id: 'sd3',
  label: 'Stable Diffusion 3 / 3.5',
  score: detectedAs('sd3'),
  defaults: DEFAULTS,
  methods: supports('sd3', { pag: true, softpag: true, headhunter: true }),
  samplers: ['flow_euler'],
  refusal: (model) => `${model} (Stable Diffusion 3 / 3.5)`,
  load: (target, o) => new Sd3Pipeline(loadSd3Sources(target, o.modelsDir), { providers: o.providers, sessions: o.sessions }),

  async generate(pipeline, probe, request, options) {
    const settings = resolveSettings(request, DEFAULTS);
    const scale = vaeScale(pipeline.sources.vaeConfig);
    const r = await pipeline.generate({
      ...promptSettings(request, settings),
      width: settings.width,
      height: settings.height,
      images: request.batch,
      heads: headPicks(request, pipeline.layers, (names) => matchPagLayers(pipeline.layers, names)),
      signal: options.signal,
      onStep: stepPreviews(options.previews, () => vaePreviewer(pipeline.vae, 'taesd3', { previews: options.previews, modelsDir: request.modelsDir }), options.onProgress, settings.height / scale, settings.width / scale),
    });
    return generateResult({ ...r, timings: {} }, request, settings, checkpointModel(probe, 'sd3'), 0);
  },

  heads: {
    inspect: (target, modelsDir) => inspectSd3Heads(target, modelsDir),
    previewModel: (pipeline, s) => ({
      model: new TransformerHeadModel('sd3', pipeline, { prompt: s.prompt, negative: s.negative, steps: s.steps ?? PREVIEW.steps, cfg: s.cfg ?? PREVIEW.cfg }),
      size: s.size ?? PREVIEW.size,
    }),
  },
};
