// The head tools' engine side (runs in the engine host): per-head effect maps and HeadHunter rounds
// driven by the user's picks, on small previews of the chosen model. Previews are remembered by
// (model settings, heads, seed, scale), so the next HeadHunter round, or effect maps after a round,
// render only what they have not drawn yet.
import type { HeadPick } from '../../pipelines/attention/head-perturbation.ts';
import { resolveModelPath } from '../../pipelines/checkpoints/index.ts';
import { headEffectMaps } from '../../pipelines/heads/effect-maps.ts';
import { EmojiHeadModel } from '../../pipelines/heads/emoji-model.ts';
import { headHunter } from '../../pipelines/heads/headhunter.ts';
import { toBytes, type RgbImage } from '../../pipelines/heads/image.ts';
import { isEmojiModel } from '../../pipelines/heads/inspect.ts';
import type { HeadKey, HeadModel, RenderOptions } from '../../pipelines/heads/model.ts';
import { picksObjective, type PicksRound } from '../../pipelines/heads/objectives.ts';
import { SdHeadModel } from '../../pipelines/heads/sd-model.ts';
import { setKey } from '../../pipelines/heads/search-cache.ts';
import { EmojiPipeline } from '../../pipelines/recipes/emoji/pipeline.ts';
import { isEmojiModelName } from '../../pipelines/recipes/emoji/models.ts';
import { DEFAULT_MODEL } from '../../pipelines/recipes/generate.ts';
import { SdPipeline } from '../../pipelines/recipes/sd/pipeline.ts';
import type { HeadWeight } from './api.ts';

export interface PreviewSettings {
  model?: string;
  modelsDir?: string;
  prompt: string;
  negative: string;
  scale: number;
  steps?: number;
  cfg?: number;
  size?: number;
  layers?: number[];
}

/** 8-bit RGB, as the studio turns it into a UI preview. */
export interface Rgb8 {
  width: number;
  height: number;
  pixels: Uint8Array;
}

export interface EffectsOutput {
  base: Rgb8;
  maps: Array<{ layer: number; head: number; mean: number; thumbnail: Rgb8 }>;
}

export type HuntOutput =
  | { status: 'choose'; round: number; current: HeadWeight[]; baseline: Rgb8[]; candidates: Array<{ name: string; layer: number; head: number; images: Rgb8[] }> }
  | { status: 'done'; heads: HeadWeight[]; rounds: number; family: string; size: number };

export interface Reporter {
  signal: AbortSignal;
  progress(step: number, total: number): void;
}

// ---- the model, warm between calls ----

let warm: { key: string; pipe: EmojiPipeline | SdPipeline } | undefined;

async function warmPipe<P extends EmojiPipeline | SdPipeline>(key: string, load: () => Promise<P> | P): Promise<P> {
  if (warm?.key === key) return warm.pipe as P;
  const old = warm;
  warm = undefined;
  await old?.pipe.release();
  const pipe = await load();
  warm = { key, pipe };
  return pipe;
}

async function headModel(s: PreviewSettings): Promise<{ model: HeadModel; size: number }> {
  const name = s.model ?? DEFAULT_MODEL;
  if (isEmojiModel(name, s.modelsDir)) {
    const target = isEmojiModelName(name) ? name : resolveModelPath(name, s.modelsDir);
    const pipe = await warmPipe(`emoji:${target}`, () => EmojiPipeline.load(target, { providers: ['cpu'] }));
    const model = new EmojiHeadModel(pipe, {
      prompt: s.prompt,
      negative: s.negative,
      ...(s.steps === undefined ? {} : { steps: s.steps }),
      ...(s.cfg === undefined ? {} : { cfg: s.cfg }),
    });
    return { model: new RememberedRenders(model), size: model.size };
  }
  const path = resolveModelPath(name, s.modelsDir);
  const pipe = await warmPipe(`sd:${path}`, () => SdPipeline.load(path, { modelsDir: s.modelsDir, providers: ['cpu'] }));
  const model = new SdHeadModel(pipe, { prompt: s.prompt, negative: s.negative, steps: s.steps ?? 10, cfg: s.cfg ?? 1, sampler: 'euler' });
  return { model: new RememberedRenders(model), size: s.size ?? 256 };
}

// ---- remembered previews ----

/** Previews kept across calls, oldest dropped first beyond this many bytes. */
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
  if (missing !== undefined) throw new RangeError(`layer ${missing} does not exist (this model has self-attention layers 0–${model.layers.length - 1})`);
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

export async function headEffects(s: PreviewSettings & { seed: number }, r: Reporter): Promise<EffectsOutput> {
  const { model, size } = await headModel(s);
  const heads = candidateHeads(model, s.layers);
  const effects = await headEffectMaps(model, {
    scale: s.scale, seed: s.seed, size, thumbnail: THUMBNAIL, u: 1, signal: r.signal,
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

export interface HuntSettings extends PreviewSettings {
  seeds: number[];
  k: number;
  u: number;
  rounds: number;
  /** Names chosen in each finished round (an empty list ends the search). */
  picks: string[][];
}

export async function headHunt(s: HuntSettings, r: Reporter): Promise<HuntOutput> {
  const { model, size } = await headModel(s);
  const objective = picksObjective((round) => {
    const chosen = s.picks[round.round];
    if (chosen === undefined) throw new AwaitingPicks(round);
    return chosen;
  });
  try {
    const result = await headHunter(model, {
      objective, rounds: s.rounds, k: s.k, u: s.u, scale: s.scale, size, signal: r.signal,
      samples: s.seeds.map((seed) => ({ seed })),
      ...(s.layers ? { candidates: candidateHeads(model, s.layers) } : {}),
      onEvent: (e) => e.type === 'evaluate' && r.progress(e.done, e.total),
    });
    return { status: 'done', heads: weights(result.heads), rounds: result.rounds.length, family: model.architecture.family, size };
  } catch (e) {
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
