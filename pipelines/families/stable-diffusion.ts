// What the Stable Diffusion families (./sd1, ./sd2, ./sdxl) share: one UNet pipeline, text-to-image
// and img2img with CFG, PAG by diffusers' layer names or per head, the attention variants, head
// previews and IR-Diffusion stories. Each family folder gives its id, native size and attention variants.
import { basename, extname } from 'node:path';
import { variantsFor } from '../attention/registry.ts';
import { inspectSdHeads, SdHeadModel } from '../heads/sd-model.ts';
import type { ResolvedSettings } from '../jobs/api.ts';
import { latentPreview, readImageNchw } from '../recipes/images.ts';
import { SdPipeline } from '../recipes/sd/pipeline.ts';
import { loadSdStoryModel } from '../recipes/story/sd-story-model.ts';
import { generateResult, headPicks } from './results.ts';
import { embeddingsUsed, readEmbedding } from '../text/embeddings.ts';
import type { ModelFamily } from './types.ts';

/** What Stable Diffusion models draw with when a request leaves these out. */
const SD_DEFAULTS = { steps: 20, cfg: 7.5, sampler: 'dpmpp_2m_karras' } as const;

/** Head previews: small, few steps, Euler, no CFG (HeadHunter searches with CFG off). */
const PREVIEW = { size: 256, steps: 10, cfg: 1, sampler: 'euler' } as const;

export interface StableDiffusionSpec {
  id: string;
  label: string;
  /** The size it was trained at (the default width and height). */
  nativeSize: number;
}

export function stableDiffusionFamily(spec: StableDiffusionSpec): ModelFamily<SdPipeline> {
  return {
    id: spec.id,
    label: spec.label,
    score: (probe) => (probe.detection?.family === spec.id ? 1 : 0),
    defaults: { ...SD_DEFAULTS, width: spec.nativeSize, height: spec.nativeSize },
    methods: { attention: variantsFor(spec.id), pag: true, softpag: true, headhunter: true, story: true, img2img: true, classLabels: false, clipSkip: true, vaeOverride: true, lora: true },
    refusal: (model) => `${model} (${spec.label})`,
    load: (target, o) => SdPipeline.load(target, { modelsDir: o.modelsDir, vae: o.vae, providers: o.providers, loras: o.loras, configDir: o.config }),

    async generate(pipeline, probe, request, options) {
      const settings: ResolvedSettings = {
        steps: request.steps ?? SD_DEFAULTS.steps,
        cfg: request.cfg ?? SD_DEFAULTS.cfg,
        sampler: request.sampler ?? SD_DEFAULTS.sampler,
        width: request.width ?? spec.nativeSize,
        height: request.height ?? spec.nativeSize,
      };
      const { width, height } = settings;
      const initImage = request.initImage ? await readImageNchw(request.initImage, width, height) : undefined;
      const widths = pipeline.sources.textConfigs.map((c) => c.hiddenSize);
      const embeddings = request.embeddingsDir ? embeddingsUsed(request.embeddingsDir, [request.prompt, request.negative]).map((f) => readEmbedding(f, widths)) : undefined;
      const r = await pipeline.generate({
        prompt: request.prompt,
        negative: request.negative,
        steps: settings.steps,
        cfg: settings.cfg,
        sampler: settings.sampler,
        seed: request.seed,
        width,
        height,
        images: request.batch,
        initImage,
        strength: request.strength,
        heads: headPicks(request, pipeline.layers, (names) => pipeline.matchPagLayers(names)),
        pagAdaptiveScale: request.pag?.adaptiveScale,
        attention: request.attention,
        clipSkip: request.clipSkip,
        embeddings,
        signal: options.signal,
        onStep: (i, total, latents) => options.onProgress?.({ phase: 'denoise', step: i + 1, total, preview: latentPreview(latents, pipeline.unetConfig.inChannels, height / 8, width / 8) }),
      });
      const { target } = probe;
      const model = { name: basename(target, extname(target)), file: probe.detection?.layout === 'single-file' ? target : undefined, family: pipeline.family };
      return generateResult(r, request, settings, model, 0);
    },

    heads: {
      inspect: (target, modelsDir) => inspectSdHeads(target, { modelsDir }),
      previewModel: (pipeline, s) => ({
        model: new SdHeadModel(pipeline, { prompt: s.prompt, negative: s.negative, steps: s.steps ?? PREVIEW.steps, cfg: s.cfg ?? PREVIEW.cfg, sampler: s.sampler ?? PREVIEW.sampler }),
        size: s.size ?? PREVIEW.size,
      }),
    },

    story: { load: (target, o) => loadSdStoryModel(target, { modelsDir: o.modelsDir, providers: o.providers }) },
  };
}
