// The head jobs' engine side (runs in the engine host): a model's heads, per-head effect maps and
// HeadHunter on small previews drawn with the request's own steps, sampler and CFG. Previews are
// remembered by (model settings, heads, seed, scale), so the next HeadHunter round, or effect maps
// after a round, render only what they have not drawn yet.
import sharp from 'sharp';
import type { HeadPick } from '../attention/head-perturbation.ts';
import { loadModel } from '../families/load.ts';
import { resolveModel, type ResolvedModel } from '../families/registry.ts';
import { providersFor } from '../families/results.ts';
import { BadRequestError, type HeadEffects, type HeadList, type HeadSearchResult, type HeadWeight, type JobOf, type Rgb8 } from '../jobs/api.ts';
import { headEffectMaps } from './effect-maps.ts';
import { headHunter, HeadHunterError } from './headhunter.ts';
import { fromBytes, toBytes, type RgbImage } from './image.ts';
import type { HeadKey, HeadModel, RenderOptions } from './model.ts';
import { objectiveByName, picksObjective, type Objective, type PicksRound } from './objectives.ts';
import { makeHeadPreset } from './presets.ts';
import { inspectHeads } from './inspect.ts';
import { setKey } from './search-cache.ts';
import { headName } from './architecture.ts';
import { HeadSpecError } from './spec.ts';

export interface Reporter {
  signal: AbortSignal;
  progress(step: number, total: number): void;
}

const NO_HEADS = (label: string) => `${label} has no self-attention heads to perturb (use emoji-dit, emoji-lit or a Stable Diffusion model)`;

function headFamily(r: ResolvedModel) {
  if (!r.family.heads) throw new BadRequestError(NO_HEADS(r.family.label));
  return r.family.heads;
}

/** The model's self-attention layers and their head counts, read without loading weights. */
export function listHeads(job: Pick<JobOf<'heads.list'>, 'model' | 'modelsDir'>): HeadList {
  const { label, layers, architecture, fixedSize } = inspectHeads(job.model, { modelsDir: job.modelsDir });
  return {
    family: architecture.family,
    architecture,
    layers: layers.map(({ index, name, heads }) => ({ index, name, heads })),
    ...(layers.length ? {} : { message: NO_HEADS(label) }),
    ...(fixedSize ? { fixedSize } : {}),
  };
}

type PreviewJob = JobOf<'heads.effects'> | JobOf<'heads.search'>;

async function previewModel(job: PreviewJob): Promise<{ model: HeadModel; size: number }> {
  const r = resolveModel(job.model, job.modelsDir, 'the head tools');
  const heads = headFamily(r);
  if (job.sampler !== undefined && r.family.samplers && !r.family.samplers.includes(job.sampler)) {
    throw new BadRequestError(`sampler ${job.sampler} does not apply to ${r.family.refusal(r.probe.target)}`);
  }
  if (job.size !== undefined && r.family.fixedSize !== undefined && job.size !== r.family.fixedSize) {
    throw new BadRequestError(`size ${job.size}: ${r.probe.target} draws ${r.family.fixedSize}×${r.family.fixedSize} images only`);
  }
  const pipeline = await loadModel(r, { modelsDir: job.modelsDir, providers: providersFor(job.ep) });
  const { model, size } = heads.previewModel(pipeline, job);
  return { model: new RememberedRenders(model), size };
}

// ---- remembered previews ----

/** Previews kept across jobs, oldest dropped first beyond this many bytes. */
const RENDER_BUDGET_BYTES = 256 * 1024 * 1024;
const renders = new Map<string, RgbImage>();
let renderBytes = 0;

class RememberedRenders implements HeadModel {
  constructor(private readonly inner: HeadModel) {}

  get layers() {
    return this.inner.layers;
  }

  get architecture() {
    return this.inner.architecture;
  }

  get key() {
    return this.inner.key;
  }

  async render(heads: readonly HeadPick[], o: RenderOptions): Promise<RgbImage> {
    const key = JSON.stringify([this.inner.key, setKey(heads), heads.length ? o.scale : 0, o.seed, o.size, o.prompt ?? null]);
    const known = renders.get(key);
    if (known) return known;
    const img = await this.inner.render(heads, o);
    renders.set(key, img);
    renderBytes += img.data.byteLength;
    for (const [k, v] of renders) {
      if (renderBytes <= RENDER_BUDGET_BYTES) break;
      renders.delete(k);
      renderBytes -= v.data.byteLength;
    }
    return img;
  }
}

// ---- the jobs ----

const rgb8 = (img: RgbImage): Rgb8 => ({ width: img.width, height: img.height, pixels: toBytes(img) });
const weights = (picks: readonly HeadPick[]): HeadWeight[] => picks.map(({ layer, head, u }) => ({ layer, head, strength: u }));

function candidateHeads(model: HeadModel, layers: number[] | undefined): HeadKey[] | undefined {
  if (!layers) return undefined;
  const missing = layers.find((l) => !model.layers[l]);
  if (missing !== undefined) throw new BadRequestError(`layer ${missing} does not exist (this model has self-attention layers 0–${model.layers.length - 1})`);
  return layers.flatMap((layer) => Array.from({ length: model.layers[layer].heads }, (_, head) => ({ layer, head })));
}

/** Thumbnail side: half the emoji models' 64-pixel previews, enough to see where a head acts. */
const THUMBNAIL = 32;

/**
 * An effect map shown as a thumbnail: scaled by the set's gain, then square-rooted so the weaker
 * heads' changes stay visible next to the strongest one.
 */
function thumbnail(map: RgbImage, gain: number): Rgb8 {
  const pixels = new Uint8Array(map.data.length);
  for (let i = 0; i < pixels.length; i++) pixels[i] = Math.round(Math.sqrt(Math.min(1, map.data[i] * gain)) * 255);
  return { width: map.width, height: map.height, pixels };
}

export async function headEffects(job: JobOf<'heads.effects'>, r: Reporter): Promise<HeadEffects> {
  const { model, size } = await previewModel(job);
  const heads = candidateHeads(model, job.layers);
  const effects = await headEffectMaps(model, {
    scale: job.scale, seed: job.seed, size, thumbnail: THUMBNAIL, u: 1, signal: r.signal,
    ...(heads ? { heads } : {}),
    onMap: (done, total) => r.progress(done, total),
  });
  return {
    base: rgb8(effects.base),
    maps: effects.maps.map((m) => ({ layer: m.layer, head: m.head, mean: m.mean, thumbnail: thumbnail(m.map, effects.gain) })),
  };
}

/** Thrown by the picks objective at the first round the user has not chosen for yet. */
class AwaitingPicks extends Error {
  constructor(readonly round: PicksRound) {
    super(`round ${round.round + 1} awaits the user's picks`);
  }
}

async function readReference(path: string): Promise<RgbImage> {
  try {
    const { data, info } = await sharp(path).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    return fromBytes(info.width, info.height, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  } catch (e) {
    throw new BadRequestError(`--reference: cannot read ${path} as an image (${(e as Error).message})`);
  }
}

async function objectiveOf(o: JobOf<'heads.search'>['objective'], picks: string[][] | undefined): Promise<Objective> {
  if (o.kind === 'picks') {
    return picksObjective((round) => {
      const chosen = picks?.[round.round];
      if (chosen === undefined) throw new AwaitingPicks(round);
      return chosen;
    });
  }
  const reference = o.reference === undefined ? undefined : await readReference(o.reference);
  try {
    return objectiveByName(o.name, reference);
  } catch (e) {
    throw new BadRequestError(`--objective: ${(e as Error).message}`);
  }
}

export async function headSearch(job: JobOf<'heads.search'>, r: Reporter): Promise<HeadSearchResult> {
  const objective = await objectiveOf(job.objective, job.objective.kind === 'picks' ? job.objective.picks : undefined);
  const { model, size } = await previewModel(job);
  try {
    const result = await headHunter(model, {
      objective, rounds: job.rounds, k: job.k, u: job.u, scale: job.scale, size, signal: r.signal,
      samples: job.seeds.map((seed) => ({ seed })),
      ...(job.layers ? { candidates: candidateHeads(model, job.layers) } : {}),
      ...(job.objective.kind === 'image' && job.objective.cacheFile ? { cacheFile: job.objective.cacheFile } : {}),
      onEvent: (e) => e.type === 'evaluate' && r.progress(e.done, e.total),
    });
    const scores: Record<string, number> = {};
    if (result.baselines) Object.assign(scores, { none: result.baselines.none, allHeads: result.baselines.allHeads });
    for (const round of result.rounds) if (round.score !== undefined) scores[`round${round.round + 1}`] = round.score;
    return {
      status: 'done',
      heads: weights(result.heads),
      rounds: result.rounds.length,
      family: model.architecture.family,
      architecture: model.architecture,
      size,
      objective: objective.id,
      scores,
      roundsAdded: result.rounds.map((round) => ({ added: round.added.map((h) => headName(h.layer, h.head)), ...(round.score === undefined ? {} : { score: round.score }) })),
      renders: result.renders,
      cachedEvaluations: result.cachedEvaluations,
      ...(job.objective.kind === 'image' && job.objective.preset
        ? {
            preset: makeHeadPreset({
              name: job.objective.preset.name,
              description: `HeadHunter: ${objective.id}, ${job.rounds} round(s) of k = ${job.k}, u = ${job.u}, for "${job.prompt}"`,
              architecture: model.architecture,
              scale: job.scale,
              heads: result.heads,
              search: { objective: objective.id, rounds: job.rounds, k: job.k, u: job.u, size, prompts: [job.prompt], seeds: job.seeds, scores },
            }),
          }
        : {}),
    };
  } catch (e) {
    if (e instanceof HeadHunterError || e instanceof HeadSpecError) throw new BadRequestError(e.message);
    if (!(e instanceof AwaitingPicks)) throw e;
    const round = e.round;
    return {
      status: 'choose',
      round: round.round,
      current: weights(round.current),
      baseline: round.currentImages.map(rgb8),
      candidates: round.candidates.map((c) => {
        const added = c.heads[c.heads.length - 1];
        return { name: c.name, layer: added.layer, head: added.head, images: c.images.map(rgb8) };
      }),
    };
  }
}
