// The seam between the front ends (CLI, server, desktop app) and the engine: one function that turns
// a validated request into RGB images. It picks the pipeline for the model's family and keeps the
// last loaded pipeline warm, so a second request on the same model skips graph building and loading.
import { basename, extname } from 'node:path';
import { detectPath, resolveModelPath } from '../checkpoints/index.ts';
import { SdPipeline } from './sd/pipeline.ts';
import { latentPreview, readImageNchw, toRgb8 } from './images.ts';
import { BadRequestError, type GenerateOptions, type GenerateRequest, type GenerateResult, type GeneratedImage, type ResolvedSettings } from './request.ts';
import type { Provider } from '../runtime/session.ts';

export class NotImplementedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotImplementedError';
  }
}

const NATIVE_SIZE: Record<string, number> = { sd1: 512, sd2: 768, sdxl: 1024 };
const SD_DEFAULTS = { steps: 20, cfg: 7.5, sampler: 'dpmpp_2m_karras' } as const;

interface Loaded {
  key: string;
  pipeline: SdPipeline;
}

let warm: Loaded | undefined;

async function sdPipeline(path: string, request: GenerateRequest, providers: readonly Provider[]): Promise<SdPipeline> {
  const key = JSON.stringify([path, request.vae, request.modelsDir, providers]);
  if (warm?.key === key) return warm.pipeline;
  if (warm) await warm.pipeline.release();
  warm = undefined;
  const pipeline = SdPipeline.load(path, { modelsDir: request.modelsDir, vae: request.vae, providers });
  warm = { key, pipeline };
  return pipeline;
}

function modelPath(request: GenerateRequest): string {
  if (!request.model) {
    throw new BadRequestError('no model given: pass --model with a Stable Diffusion checkpoint (.safetensors file or diffusers folder)');
  }
  return resolveModelPath(request.model, request.modelsDir);
}

export async function runGenerate(request: GenerateRequest, options: GenerateOptions = {}): Promise<GenerateResult> {
  const { onProgress } = options;
  const path = modelPath(request);
  const detection = detectPath(path);
  if (detection.family !== 'sd1' && detection.family !== 'sd2' && detection.family !== 'sdxl') {
    throw new BadRequestError(`${path}: ${detection.description}; studio generate runs Stable Diffusion 1.x, 2.x and XL checkpoints`);
  }
  const providers: Provider[] = request.ep === 'cpu' ? ['cpu'] : [request.ep, 'cpu'];
  const loadStart = performance.now();
  onProgress?.({ phase: 'load', step: 0, total: 1 });
  const pipeline = await sdPipeline(path, request, providers);
  const native = NATIVE_SIZE[pipeline.family] ?? 512;
  const settings: ResolvedSettings = {
    steps: request.steps ?? SD_DEFAULTS.steps,
    cfg: request.cfg ?? SD_DEFAULTS.cfg,
    sampler: request.sampler ?? SD_DEFAULTS.sampler,
    width: request.width ?? native,
    height: request.height ?? native,
  };
  const { width, height } = settings;
  const loadMs = performance.now() - loadStart;

  const initImage = request.initImage ? await readImageNchw(request.initImage, width, height) : undefined;
  const heads = request.pag?.heads?.map((h) => ({ layer: h.layer, head: h.head, u: h.strength }));
  const result = await pipeline.generate({
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
    pag: request.pag && !heads ? { scale: request.pag.scale, layers: request.pag.layers } : undefined,
    heads: request.pag && heads ? { scale: request.pag.scale, picks: heads } : undefined,
    attention: request.attention,
    clipSkip: request.clipSkip,
    signal: options.signal,
    onStep: (i, total, latents) => {
      onProgress?.({ phase: 'denoise', step: i + 1, total, preview: latentPreview(latents, pipeline.unetConfig.inChannels, height / 8, width / 8) });
    },
  });
  const images: GeneratedImage[] = Array.from({ length: result.count }, (_, n) => ({
    ...toRgb8(result.images, n, width, height),
    seed: request.seed,
    batchIndex: n,
  }));
  const file = detection.layout === 'single-file' ? path : undefined;
  return {
    images,
    settings,
    model: { name: basename(path, extname(path)), file, family: pipeline.family },
    ep: result.provider,
    timings: { load: loadMs, ...result.timings },
  };
}

/** The self-attention layers of a model and their head counts (the UI's head grid, `studio heads list`). */
export async function listHeads(query: { model?: string; modelsDir?: string }): Promise<{ layers: { index: number; name: string; heads: number }[] }> {
  const path = modelPath({ model: query.model, modelsDir: query.modelsDir } as GenerateRequest);
  const pipeline = SdPipeline.load(path, { modelsDir: query.modelsDir });
  return { layers: pipeline.layers.map((l) => ({ index: l.index, name: l.name, heads: l.heads })) };
}
