// What the Stable Diffusion families (./sd1, ./sd2, ./sdxl) share: one UNet pipeline, text-to-image
// img2img and inpainting with CFG, PAG by diffusers' layer names or per head, the attention variants, head
// previews and IR-Diffusion stories. Each family folder gives its id, native size and attention variants.
import { basename } from 'node:path';
import { modelDtype } from '../runtime/kernels.ts';
import { inspectSdHeads, SdHeadModel } from '../heads/sd-model.ts';
import { BadRequestError, hiresSize, ladderStages, resolveSettings, type GenerateRequest, type ResolvedSettings } from '../jobs/api.ts';
import { readImageNchw } from '../recipes/images.ts';
import { stepPreviews, vaePreviewer } from '../previews/previewer.ts';
import type { TaesdName } from '../previews/taesd.ts';
import { binaryMask, latentMask, overlayInit, readMask, type InpaintMask } from '../recipes/inpaint/mask.ts';
import { outpaintCanvas } from '../recipes/inpaint/outpaint.ts';
import { cropPlanes, maskedRegion, pasteRegion, type Region } from '../recipes/inpaint/masked-area.ts';
import { drawWithHiresFix } from '../recipes/sd/hires-fix.ts';
import { drawLadder } from '../recipes/sd/ladder.ts';
import { checkLadderMemory, ladderProgress } from './sd-ladder.ts';
import { generateDualBranch } from './sdxl-hires.ts';
import { SdPipeline, type SdGenerateOptions } from '../recipes/sd/pipeline.ts';
import type { ControlUnit } from '../recipes/sd/controlnet.ts';
import { readControlImage } from '../recipes/controlnet/control-image.ts';
import { ControlNetFileError } from '../checkpoints/controlnet.ts';
import { IpAdapterFileError } from '../checkpoints/ip-adapter.ts';
import { clipImagePixels } from '../recipes/ip-adapter/clip-image.ts';
import type { ImagePrompt } from '../recipes/sd/ip-adapter.ts';
import { loadSdStoryModel } from '../recipes/story/sd-story-model.ts';
import { detectedAs, supports } from './declare.ts';
import { checkpointModel, generateResult, headPicks, promptSettings } from './results.ts';
import { embeddingsUsed, readEmbedding } from '../text/embeddings.ts';
import type { ModelFamily } from './types.ts';

/** What Stable Diffusion models draw with when a request leaves these out. */
const SD_DEFAULTS = { steps: 20, cfg: 7.5, sampler: 'dpmpp_2m_karras' } as const;

/** Head previews: small, few steps, Euler, no CFG (HeadHunter searches with CFG off). */
const PREVIEW = { size: 256, steps: 10, cfg: 1, sampler: 'euler' } as const;

interface DrawingCanvas {
  width: number;
  height: number;
  initImage?: Float32Array;
  mask?: InpaintMask;
  /** Inpainting only the masked area: the whole image and mask, and the region drawn (scaled to the full size). */
  full?: { initImage: Float32Array; mask: InpaintMask; region: Region };
}

/** What a request draws on: the init image (on its outpainting canvas) and the inpainting mask, if any. */
async function canvas(request: GenerateRequest, s: ResolvedSettings): Promise<DrawingCanvas> {
  const { width, height } = s;
  if (!request.initImage) return { width, height };
  if (request.outpaint) {
    const { image, mask } = await outpaintCanvas(request.initImage, width, height, request.outpaint, request.maskBlur ?? 0);
    return { width: mask.width, height: mask.height, initImage: image, mask };
  }
  const initImage = await readImageNchw(request.initImage, width, height);
  const mask = request.mask ? await readMask(request.mask, width, height, request.maskBlur ?? 0) : undefined;
  if (!mask || request.inpaintArea !== 'masked') return { width, height, initImage, mask };
  const region = maskedRegion(mask, request.padding ?? 0);
  const crop = {
    initImage: await cropPlanes(initImage, 3, width, height, region, width, height),
    blend: await cropPlanes(mask.blend, 1, width, height, region, width, height),
  };
  return { width, height, initImage: crop.initImage, mask: { width, height, blend: crop.blend }, full: { initImage, mask, region } };
}

/**
 * The request's ControlNets with their control images at the drawing size (their notices go to `notes`);
 * when only the masked area is drawn, the same region of the control image.
 */
async function controlUnits(pipeline: SdPipeline, request: GenerateRequest, width: number, height: number, region: Region | undefined, model: string, notes: string[]): Promise<ControlUnit[] | undefined> {
  if (!request.controlNets) return undefined;
  return Promise.all(request.controlNets.map(async (u) => {
    let net;
    try {
      net = pipeline.controlNet(u.model, model);
    } catch (e) {
      throw e instanceof ControlNetFileError ? new BadRequestError(e.message) : e;
    }
    const { image: whole, notice } = await readControlImage(u.image, width, height, u.preprocess);
    if (notice) notes.push(notice);
    const image = region ? await cropPlanes(whole, 3, width, height, region, width, height) : whole;
    return { net, image, weight: u.weight, start: u.start, end: u.end, guessMode: u.guessMode };
  }));
}

/** The request's IP-Adapter with its image prepared for the encoder. */
async function imagePrompt(pipeline: SdPipeline, request: GenerateRequest, model: string): Promise<ImagePrompt | undefined> {
  const ip = request.ipAdapter;
  if (!ip) return undefined;
  let adapter;
  try {
    adapter = pipeline.ipAdapter(ip.model, ip.imageEncoder, model);
  } catch (e) {
    throw e instanceof IpAdapterFileError ? new BadRequestError(e.message) : e;
  }
  return { adapter, pixels: await clipImagePixels(ip.image, adapter.imageSize), scale: ip.scale };
}

/** The warning for a size far above what the model was trained at. */
function oversizeNote(width: number, height: number, native: number): string {
  const scale = Math.round((Math.max(width, height) / native) * 100) / 100;
  return `${width}×${height} is far above this model's native ${native}×${native}: expect repeated subjects and broken anatomy; draw at the native size with --hires-fix ${scale} instead`;
}

export interface StableDiffusionSpec {
  id: string;
  label: string;
  /** The size it was trained at (the default width and height). */
  nativeSize: number;
  /** The TAESD decoder of its latent space, for live previews when the user has it. */
  taesd: TaesdName;
  /** LinFusion's SDXL HighRes and SuperRes pipelines (`--hires-mode highres|superres`) run on it. */
  dualBranchHires?: boolean;
}

export function stableDiffusionFamily(spec: StableDiffusionSpec): ModelFamily<SdPipeline> {
  return {
    id: spec.id,
    label: spec.label,
    score: detectedAs(spec.id),
    defaults: { ...SD_DEFAULTS, width: spec.nativeSize, height: spec.nativeSize },
    methods: supports(spec.id, { pag: true, softpag: true, headhunter: true, story: true, img2img: true, inpaint: true, inpaintCheckpoints: true, controlNet: true, ipAdapter: true, hiresFix: true, hiresLadder: true, hiresDualBranch: spec.dualBranchHires ?? false, clipSkip: true, vaeOverride: true, lora: true }),
    refusal: (model) => `${model} (${spec.label})`,
    load: (target, o) => SdPipeline.open(target, { modelsDir: o.modelsDir, vae: o.vae, providers: o.providers, loras: o.loras, configDir: o.config, sessions: o.sessions, dtype: modelDtype(o.providers[0]) }),

    async generate(pipeline, probe, request, options) {
      const settings = resolveSettings(request, { ...SD_DEFAULTS, width: spec.nativeSize, height: spec.nativeSize });
      if (request.hires && request.hires.mode !== 'ladder') return { ...(await generateDualBranch(pipeline, request, settings, options, spec.taesd)), model: checkpointModel(probe, pipeline.family) };
      const { width, height, initImage, mask, full } = await canvas(request, settings);
      const notes = mask?.resizedFrom ? [`the mask is ${mask.resizedFrom.width}×${mask.resizedFrom.height} and the image ${width}×${height}: the mask was stretched to fit`] : [];
      const ladder = request.hires && ladderStages({ width, height }, request.hires, settings.steps);
      if (typeof ladder === 'string') throw new BadRequestError(ladder);
      const ladderPlan = ladder ? checkLadderMemory(pipeline, request, settings.cfg, ladder) : undefined;
      if (ladderPlan) notes.push(ladderPlan.note);
      if (!request.hiresFix && !request.hires && Math.max(width, height) > 1.5 * spec.nativeSize) notes.push(oversizeNote(width, height, spec.nativeSize));
      const widths = pipeline.sources.textConfigs.map((c) => c.hiddenSize);
      const controlNets = await controlUnits(pipeline, request, width, height, full?.region, basename(probe.target), notes);
      const ip = await imagePrompt(pipeline, request, basename(probe.target));
      const embeddings = request.embeddingsDir ? embeddingsUsed(request.embeddingsDir, [request.prompt, request.negative]).map((f) => readEmbedding(f, widths)) : undefined;
      const previewer = () => vaePreviewer(pipeline.vae, spec.taesd, { previews: options.previews, modelsDir: request.modelsDir });
      const preview = (w: number, h: number): SdGenerateOptions['onStep'] => stepPreviews(options.previews, previewer, options.onProgress, h / 8, w / 8);
      const base: SdGenerateOptions = {
        ...promptSettings(request, settings),
        width,
        height,
        images: request.batch,
        initImage,
        strength: request.strength,
        inpaintMask: mask && latentMask(mask, 8),
        inpaintPixelMask: mask && pipeline.inpaintingUNet ? binaryMask(mask) : undefined,
        heads: headPicks(request, pipeline.layers, (names) => pipeline.matchPagLayers(names)),
        pagAdaptiveScale: request.pag?.adaptiveScale,
        attention: request.attention,
        clipSkip: request.clipSkip,
        embeddings,
        controlNets,
        imagePrompt: ip,
        signal: options.signal,
        onStep: preview(width, height),
      };
      const hires = request.hiresFix;
      const r = ladder
        ? await drawLadder(pipeline, base, ladder, ladderProgress(ladder, previewer, options), ladderPlan?.memory)
        : hires
          ? await drawWithHiresFix(pipeline, base, hires, { onStep: preview(hiresSize(width, hires.scale), hiresSize(height, hires.scale)) })
          : await pipeline.generate(base);
      const model = checkpointModel(probe, pipeline.family);
      if (full) {
        r.images = await pasteRegion(r.images, r.count, width, height, full.initImage, width, height, full.region);
        overlayInit(r.images, r.count, full.initImage, full.mask);
      } else if (mask && initImage) overlayInit(r.images, r.count, initImage, mask);
      return { ...generateResult(r, request, settings, model, 0, [...notes, ...(r.notes ?? [])]), ...(ladder ? { stages: ladder } : {}) };
    },

    heads: {
      inspect: (target, modelsDir) => inspectSdHeads(target, { modelsDir }),
      previewModel: (pipeline, s) => ({
        model: new SdHeadModel(pipeline, { prompt: s.prompt, negative: s.negative, steps: s.steps ?? PREVIEW.steps, cfg: s.cfg ?? PREVIEW.cfg, sampler: s.sampler ?? PREVIEW.sampler }),
        size: s.size ?? PREVIEW.size,
      }),
    },

    story: { load: (target, o) => loadSdStoryModel(target, { modelsDir: o.modelsDir, providers: o.providers, sessions: o.sessions }) },
  };
}
