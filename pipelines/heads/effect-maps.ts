// Per-head effect maps for the UI's layer × head grid: for each head, where and how much perturbing
// it alone changes a preview, |image(head) − image(no perturbation)| shrunk to a thumbnail. All maps
// share one seed and one unperturbed image.
import { absDiff, resizeArea, type RgbImage } from './image.ts';
import type { HeadKey, HeadModel } from './model.ts';

export interface EffectMapOptions {
  scale: number;
  seed: number;
  /** Preview side in pixels. */
  size: number;
  /** Thumbnail side in pixels (default 16). */
  thumbnail?: number;
  /** Strength of the perturbed head (default 1, PAG). */
  u?: number;
  /** Heads to map (default: every head). */
  heads?: readonly HeadKey[];
  prompt?: string;
  onMap?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface HeadEffect {
  layer: number;
  head: number;
  /** |difference| per channel, area-averaged to the thumbnail size (not rescaled). */
  map: RgbImage;
  /** Mean |difference| over the full preview (equal to the thumbnail's mean). */
  mean: number;
}

export interface EffectMaps {
  base: RgbImage;
  maps: HeadEffect[];
  /** Multiply the maps by this to show them: 1 / the largest value of any map (1 when all are 0). */
  gain: number;
}

export async function headEffectMaps(model: HeadModel, o: EffectMapOptions): Promise<EffectMaps> {
  const thumb = o.thumbnail ?? 16;
  const u = o.u ?? 1;
  const heads = o.heads ?? model.layers.flatMap((l) => Array.from({ length: l.heads }, (_, head) => ({ layer: l.index, head })));
  const render = { scale: o.scale, seed: o.seed, size: o.size, ...(o.prompt === undefined ? {} : { prompt: o.prompt }) };
  const base = await model.render([], render);
  const maps: HeadEffect[] = [];
  let peak = 0;
  for (const [i, h] of heads.entries()) {
    o.signal?.throwIfAborted();
    const diff = absDiff(await model.render([{ layer: h.layer, head: h.head, u }], render), base);
    const map = resizeArea(diff, thumb, Math.max(1, Math.round((thumb * diff.height) / diff.width)));
    let sum = 0;
    for (const v of diff.data) sum += v;
    for (const v of map.data) peak = Math.max(peak, v);
    maps.push({ layer: h.layer, head: h.head, map, mean: sum / diff.data.length });
    o.onMap?.(i + 1, heads.length);
  }
  return { base, maps, gain: peak > 0 ? 1 / peak : 1 };
}
