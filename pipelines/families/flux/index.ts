// FLUX.1 dev and schnell (double- and single-stream transformer, flow matching): diffusers folders and
// Black Forest Labs' single files. dev is guidance-distilled: `cfg` is the guidance scale it takes as an
// input (one model call per step, no CFG); schnell is timestep-distilled and takes no guidance. SoftPAG /
// PAG / HeadHunter heads over the joint attention of every block, double and single.
import { resolveSettings, type GenerateRequest } from '../../jobs/api.ts';
import { matchPagLayers } from '../../models/unet/layers.ts';
import { vaeScale } from '../../models/vae/config.ts';
import { stepPreviews, vaePreviewer } from '../../previews/previewer.ts';
import { fluxAttentionLayers } from '../../models/flux/model.ts';
import { fingerprintOf } from '../../heads/architecture.ts';
import { TransformerHeadModel } from '../../heads/transformer-model.ts';
import { FluxPipeline } from '../../recipes/flux/pipeline.ts';
import { loadFluxSources, type FluxVariant } from '../../recipes/flux/sources.ts';
import { detectedAs, supports } from '../declare.ts';
import { checkpointModel, generateResult, headPicks } from '../results.ts';
import type { ModelFamily } from '../types.ts';

/** FluxPipeline's defaults for FLUX.1-dev: 28 steps, guidance 3.5, 1024². */
const DEV = { steps: 28, cfg: 3.5, sampler: 'flow_euler', width: 1024, height: 1024 } as const;
/** FLUX.1-schnell's card: 4 steps, guidance 0. */
const SCHNELL = { ...DEV, steps: 4, cfg: 0 } as const;

/** Head previews: small and few steps, with dev's default guidance. */
const PREVIEW = { size: 256, steps: 8, cfg: 3.5 } as const;

/** What the request asks that this variant does not take, said once each (nothing is refused). */
function ignored(request: GenerateRequest, variant: FluxVariant): string[] {
  const notes: string[] = [];
  if (variant === 'schnell' && request.cfg !== undefined && request.cfg !== 0) {
    notes.push(`FLUX.1-schnell has no guidance input (it is distilled to draw in 1–4 steps without guidance): cfg ${request.cfg} was ignored. Guidance is FLUX.1-dev's (3.5 by default).`);
  }
  if (request.negative.trim()) notes.push('FLUX.1 takes no negative prompt (no classifier-free guidance): the negative prompt was ignored.');
  return notes;
}

export const flux: ModelFamily<FluxPipeline> = {
  id: 'flux',
  label: 'FLUX.1 (dev, schnell)',
  score: detectedAs('flux'),
  defaults: DEV,
  methods: supports('flux', { pag: true, softpag: true, headhunter: true }),
  samplers: ['flow_euler'],
  refusal: (model) => `${model} (FLUX.1)`,
  load: (target, o) => new FluxPipeline(loadFluxSources(target, { modelsDir: o.modelsDir, componentsDir: o.config }), { providers: o.providers, sessions: o.sessions }),

  async generate(pipeline, probe, request, options) {
    const variant = pipeline.sources.variant;
    const settings = resolveSettings(request, variant === 'dev' ? DEV : SCHNELL);
    const scale = vaeScale(pipeline.sources.vaeConfig);
    const r = await pipeline.generate({
      prompt: request.prompt,
      steps: settings.steps,
      cfg: settings.cfg,
      sampler: settings.sampler,
      seed: request.seed,
      width: settings.width,
      height: settings.height,
      images: request.batch,
      heads: headPicks(request, pipeline.layers, (names) => matchPagLayers(pipeline.layers, names)),
      signal: options.signal,
      onStep: stepPreviews(options.previews, () => vaePreviewer(pipeline.vae, 'taef1', { previews: options.previews, modelsDir: request.modelsDir }), options.onProgress, settings.height / scale, settings.width / scale),
    });
    return generateResult({ ...r, timings: {} }, request, settings, checkpointModel(probe, 'flux'), 0, ignored(request, variant));
  },

  heads: {
    inspect(target, modelsDir) {
      const layers = fluxAttentionLayers(loadFluxSources(target, { modelsDir }).transformerConfig);
      return { layers, architecture: fingerprintOf('flux', layers) };
    },
    previewModel: (pipeline, s) => {
      const defaults = pipeline.sources.variant === 'dev' ? PREVIEW : { ...PREVIEW, cfg: 0 };
      return { model: new TransformerHeadModel('flux', pipeline, { prompt: s.prompt, steps: s.steps ?? defaults.steps, cfg: s.cfg ?? defaults.cfg }), size: s.size ?? defaults.size };
    },
  },
};
