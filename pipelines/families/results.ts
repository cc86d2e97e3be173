// Pieces every family's generate shares: head picks from a request's PAG settings, the providers a
// request allows, the prompt and settings a pipeline draws with, and its images as the jobs API's result.
import { basename, extname } from 'node:path';
import { wholeLayerPicks, type HeadPick } from '../attention/head-perturbation.ts';
import type { SelfAttentionLayer } from '../attention/self-attention.ts';
import type { GenerateRequest, GenerateResult, ResolvedSettings } from '../jobs/api.ts';
import { toRgb8 } from '../recipes/images.ts';
import type { Provider } from '../runtime/session.ts';
import type { ModelProbe } from './types.ts';
import { PROVIDER_ORDER } from '../runtime/providers.ts';

/** The providers to try in order: `auto` tries every one, fastest first (runtime/providers.ts says which are). */
export function providersFor(ep: GenerateRequest['ep']): Provider[] {
  if (ep === 'auto') return [...PROVIDER_ORDER];
  return ep === 'cpu' ? ['cpu'] : [ep, 'cpu'];
}

/** PAG as head picks: the request's per-head strengths, or every head of the named layers. */
export function headPicks(request: GenerateRequest, layers: readonly SelfAttentionLayer[], matchLayers: (names: readonly string[]) => number[]): { scale: number; picks: HeadPick[] } | undefined {
  const pag = request.pag;
  if (!pag || pag.scale <= 0) return undefined;
  if (pag.heads) return { scale: pag.scale, picks: pag.heads.map((h) => ({ layer: h.layer, head: h.head, u: h.strength })) };
  return { scale: pag.scale, picks: wholeLayerPicks(layers, matchLayers(pag.layers)) };
}

/** The prompt, seed and resolved sampling settings, as the pipelines take them. */
export function promptSettings(request: GenerateRequest, settings: ResolvedSettings) {
  return { prompt: request.prompt, negative: request.negative, steps: settings.steps, cfg: settings.cfg, sampler: settings.sampler, seed: request.seed };
}

/** How a result names a checkpoint: its file's stem, the file itself when it is a single file, and the family. */
export function checkpointModel(probe: ModelProbe, family: string): GenerateResult['model'] {
  const { target } = probe;
  return { name: basename(target, extname(target)), file: probe.detection?.layout === 'single-file' ? target : undefined, family };
}

interface Drawn {
  images: Float32Array;
  count: number;
  width: number;
  height: number;
  provider: string;
  timings: Record<string, number>;
}

export function generateResult(r: Drawn, request: GenerateRequest, settings: ResolvedSettings, model: GenerateResult['model'], loadMs: number, notes: readonly string[] = []): GenerateResult {
  const images = Array.from({ length: r.count }, (_, n) => ({ ...toRgb8(r.images, n, r.width, r.height), seed: request.seed, batchIndex: n }));
  return { images, settings, model, ep: r.provider, timings: { load: loadMs, ...r.timings }, ...(notes.length ? { notes: [...notes] } : {}) };
}
