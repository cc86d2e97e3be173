// HeadHunter (arXiv 2506.10978, Alg. 1): greedy forward selection of attention heads for perturbation
// guidance. Each round tries the current set plus one more head for every head left in the pool,
// scores the previews with the objective, and keeps the k best additions. Cheap and resumable: small
// previews, one seed list for every candidate (so they differ only by their heads), scores cached by
// head set in a JSON file. Model-agnostic: anything implementing HeadModel can be searched.
import { headWeightsData, type HeadPick } from '../attention/head-perturbation.ts';
import { headName } from './architecture.ts';
import type { RgbImage } from './image.ts';
import type { HeadKey, HeadModel } from './model.ts';

export type { HeadKey };
import type { ImageObjective, Objective, PickCandidate } from './objectives.ts';
import { SearchCache, setKey, type SearchSettings } from './search-cache.ts';
import { firstNonFinite } from '../runtime/result-checks.ts';

export interface HeadHunterOptions {
  objective: Objective;
  rounds: number;
  /** Heads added per round. */
  k: number;
  /** Strength of every selected head (the paper searches at 1 for style, 0.25 for general quality). */
  u: number;
  /** Perturbation guidance scale of the previews. */
  scale: number;
  /** Preview side in pixels. */
  size: number;
  /** Prompt–seed pairs every candidate is rendered with (default: seed 0 with the model's prompt). */
  samples?: Array<{ seed: number; prompt?: string }>;
  /** Heads that may be chosen (default: every head of every self-attention layer). */
  candidates?: readonly HeadKey[];
  /** JSON file of scores and picks; a rerun with the same file resumes. */
  cacheFile?: string;
  onEvent?: (e: SearchEvent) => void;
  signal?: AbortSignal;
}

export type SearchEvent =
  | { type: 'evaluate'; round: number; done: number; total: number; set: string; score?: number; cached: boolean }
  | { type: 'round'; round: number; added: HeadKey[]; score?: number };

export interface RoundResult {
  round: number;
  added: HeadKey[];
  /** Each candidate's score (image objectives), best first. */
  ranking: Array<{ head: string; score: number }>;
  /** The objective on the set after the round (image objectives). */
  score?: number;
}

export interface HeadHunterResult {
  heads: HeadPick[];
  rounds: RoundResult[];
  /** The objective without perturbation and with PAG on every head at u = 1 (image objectives). */
  baselines?: { none: number; allHeads: number };
  /** Previews rendered in this run (cached sets render nothing). */
  renders: number;
  cachedEvaluations: number;
}

export class HeadHunterError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HeadHunterError';
  }
}

function checkOptions(model: HeadModel, o: HeadHunterOptions): HeadKey[] {
  const positiveInt = (name: string, v: number) => {
    if (!Number.isInteger(v) || v < 1) throw new HeadHunterError(`head search: ${name} must be a whole number of at least 1 (got ${v})`);
  };
  positiveInt('rounds', o.rounds);
  positiveInt('k', o.k);
  positiveInt('size', o.size);
  if (!(o.u > 0 && o.u <= 1)) throw new HeadHunterError(`head search: strength u must be above 0 and at most 1 (got ${o.u})`);
  if (!(o.scale > 0)) throw new HeadHunterError(`head search: the guidance scale must be above 0 (got ${o.scale})`);
  if (o.samples && o.samples.length === 0) throw new HeadHunterError('head search: needs at least one prompt–seed sample');
  const pool = o.candidates ?? model.layers.flatMap((l) => Array.from({ length: l.heads }, (_, head) => ({ layer: l.index, head })));
  try {
    headWeightsData(model.layers, pool.map((h) => ({ ...h, u: 1 })));
  } catch (e) {
    throw new HeadHunterError(`head search candidates: ${(e as Error).message}`);
  }
  if (new Set(pool.map((h) => headName(h.layer, h.head))).size !== pool.length) throw new HeadHunterError('head search: a candidate head is listed twice');
  if (pool.length === 0) throw new HeadHunterError('head search: no candidate heads');
  return [...pool];
}

export async function headHunter(model: HeadModel, o: HeadHunterOptions): Promise<HeadHunterResult> {
  const pool = checkOptions(model, o);
  const samples = o.samples ?? [{ seed: 0 }];
  const settings: SearchSettings = { model: model.key, architecture: model.architecture.hash, objective: o.objective.id, scale: o.scale, size: o.size, samples };
  const cache = SearchCache.open(o.cacheFile, settings);
  let renders = 0;
  let cachedEvaluations = 0;

  const renderAll = async (heads: readonly HeadPick[]): Promise<RgbImage[]> => {
    const images: RgbImage[] = [];
    for (const s of samples) {
      o.signal?.throwIfAborted();
      images.push(await model.render(heads, { scale: o.scale, seed: s.seed, size: o.size, ...(s.prompt === undefined ? {} : { prompt: s.prompt }) }));
      renders++;
    }
    return images;
  };

  /** Mean objective over the samples, from the cache when this set was scored before. */
  const evaluate = async (objective: ImageObjective, heads: readonly HeadPick[]): Promise<{ score: number; cached: boolean }> => {
    const key = setKey(heads);
    const known = cache.score(key);
    if (known !== undefined) {
      cachedEvaluations++;
      return { score: known, cached: true };
    }
    const images = await renderAll(heads);
    const scores = images.map((img) => objective.score(img));
    const bad = firstNonFinite(scores);
    if (bad !== undefined) throw new HeadHunterError(`objective ${objective.id} gave ${bad} for head set ${key}`);
    const score = scores.reduce((a, b) => a + b, 0) / scores.length;
    cache.setScore(key, score);
    return { score, cached: false };
  };

  const objective = o.objective;
  let baselines: HeadHunterResult['baselines'];
  if (objective.kind === 'image') {
    const none = (await evaluate(objective, [])).score;
    const all = model.layers.flatMap((l) => Array.from({ length: l.heads }, (_, head) => ({ layer: l.index, head, u: 1 })));
    baselines = { none, allHeads: (await evaluate(objective, all)).score };
  }

  let current: HeadPick[] = [];
  const rounds: RoundResult[] = [];
  for (let round = 0; round < o.rounds; round++) {
    const chosen = new Set(current.map((h) => headName(h.layer, h.head)));
    const remaining = pool.filter((h) => !chosen.has(headName(h.layer, h.head)));
    if (remaining.length === 0) break;
    const withHead = (h: HeadKey): HeadPick[] => [...current, { layer: h.layer, head: h.head, u: o.u }];

    let added: HeadKey[];
    let ranking: RoundResult['ranking'] = [];
    if (objective.kind === 'image') {
      const scored: Array<{ h: HeadKey; score: number }> = [];
      for (const [i, h] of remaining.entries()) {
        const { score, cached } = await evaluate(objective, withHead(h));
        scored.push({ h, score });
        o.onEvent?.({ type: 'evaluate', round, done: i + 1, total: remaining.length, set: setKey(withHead(h)), score, cached });
      }
      // Stable sort: ties keep pool order, so reruns choose the same heads.
      scored.sort((a, b) => b.score - a.score);
      added = scored.slice(0, o.k).map((s) => s.h);
      ranking = scored.map((s) => ({ head: headName(s.h.layer, s.h.head), score: s.score }));
    } else {
      const names = remaining.map((h) => headName(h.layer, h.head));
      const roundKey = `${setKey(current)}|${names.join(',')}`;
      let picked = cache.picks(roundKey);
      if (!picked) {
        const currentImages = await renderAll(current);
        const candidates: PickCandidate[] = [];
        for (const [i, h] of remaining.entries()) {
          candidates.push({ name: names[i], heads: withHead(h), images: await renderAll(withHead(h)) });
          o.onEvent?.({ type: 'evaluate', round, done: i + 1, total: remaining.length, set: setKey(withHead(h)), cached: false });
        }
        picked = await objective.choose({ round, current: [...current], currentImages, candidates, k: o.k });
        const unknown = picked.filter((n) => !names.includes(n));
        if (unknown.length) throw new HeadHunterError(`round ${round + 1}: picked ${unknown.join(', ')}, which ${unknown.length > 1 ? 'are' : 'is'} not among this round's candidates`);
        cache.setPicks(roundKey, picked);
      }
      added = [...new Set(picked)].slice(0, o.k).map((n) => remaining[names.indexOf(n)]);
      if (added.length === 0) break;
    }

    current = [...current, ...added.map((h) => ({ layer: h.layer, head: h.head, u: o.u }))];
    const score = objective.kind === 'image' ? (await evaluate(objective, current)).score : undefined;
    rounds.push({ round, added, ranking, ...(score === undefined ? {} : { score }) });
    o.onEvent?.({ type: 'round', round, added, ...(score === undefined ? {} : { score }) });
  }
  return { heads: current, rounds, ...(baselines ? { baselines } : {}), renders, cachedEvaluations };
}
