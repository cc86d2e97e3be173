// `studio generate --model DiT-XL-2-256x256.pt --class 207 --vae sd-vae-ft-ema`: a validated request
// → the class-conditional pipeline → the front ends' result shape.
import { basename, extname } from 'node:path';
import { toRgb8 } from '../images.ts';
import { linearPreviewer, stepPreviews } from '../../previews/previewer.ts';
import { BadRequestError, type GenerateOptions, type GenerateRequest, type GenerateResult, type ResolvedSettings } from '../../jobs/api.ts';
import type { Provider } from '../../runtime/session.ts';
import { providersFor } from '../../families/results.ts';
import { ClassConditionalPipeline } from './pipeline.ts';
import type { ClassConditionalFamily } from './model.ts';

/** Keeps one pipeline warm between requests (the generate seam's cache). */
export type WarmLoader = (key: string, load: () => Promise<ClassConditionalPipeline>) => Promise<ClassConditionalPipeline>;

const NAMES: Record<ClassConditionalFamily, string> = { dit: 'DiT', dico: 'DiCo' };

/** Request fields that mean nothing to a class-conditional ImageNet model. */
function refuseTextOnly(request: GenerateRequest, model: string): void {
  const refuse = (what: string) => {
    throw new BadRequestError(`${what} does not apply to ${model}: it is a class-conditional model (no text encoder, no UNet), sampled with learned-variance DDPM`);
  };
  if (request.sampler !== undefined && request.sampler !== 'ddpm') refuse(`sampler ${request.sampler}`);
  if (request.initImage !== undefined) refuse('img2img (--init-image)');
  if (request.pag !== undefined && request.pag.scale > 0) refuse('PAG / head guidance');
  if (request.attention.kind !== 'softmax') refuse(`--attention ${request.attention.kind}`);
  if (request.clipSkip !== 1) refuse('--clip-skip');
}

export async function runClassConditional(
  path: string,
  family: ClassConditionalFamily,
  request: GenerateRequest,
  options: GenerateOptions,
  warm: WarmLoader,
): Promise<GenerateResult> {
  const name = basename(path, extname(path));
  if (request.classLabel === undefined) {
    throw new BadRequestError(`${name} is a class-conditional ${NAMES[family]} model: give the class to draw with --class N (ImageNet models: 0–999, e.g. 207 for golden retriever)`);
  }
  refuseTextOnly(request, name);
  const providers = providersFor(request.ep);
  const t0 = performance.now();
  options.onProgress?.({ phase: 'load', step: 0, total: 1 });
  const key = JSON.stringify(['class', path, request.vae, request.ep]);
  const pipeline = await warm(key, async () => ClassConditionalPipeline.load(path, family, { vae: request.vae, providers }));
  const loadMs = performance.now() - t0;
  const latentSide = (pixels: number | undefined) => (pixels ?? pipeline.model.nativeSize) / 8;
  const notes = pipeline.describeWeights();
  if (request.prompt.trim() || request.negative.trim()) notes.push(`prompt unused: ${name} draws ImageNet class ${request.classLabel}, not text`);
  const r = await pipeline.generate({
    classLabel: request.classLabel,
    steps: request.steps,
    cfg: request.cfg,
    seed: request.seed,
    images: request.batch,
    width: request.width,
    height: request.height,
    signal: options.signal,
    onStep: stepPreviews(options.previews, () => linearPreviewer(pipeline.vae), options.onProgress, latentSide(request.height), latentSide(request.width)),
  });
  notes.push(...r.notes);
  const settings: ResolvedSettings = { steps: r.settings.steps, cfg: r.settings.cfg, sampler: 'ddpm', width: r.width, height: r.height };
  return {
    images: Array.from({ length: r.count }, (_, n) => ({ ...toRgb8(r.images, n, r.width, r.height), seed: request.seed, batchIndex: n })),
    settings,
    model: { name, file: path, family },
    ep: r.provider,
    timings: { load: loadMs, ...r.timings },
    ...(notes.length ? { notes } : {}),
  };
}
