// IR-Diffusion's masks at one token grid, computed in JS for each scene and call: the bounds of a
// mask, the reposition of a source mask's bbox into a target's (official rescale_hidden_states_sa +
// relocate_mask), the query dropout, and the feeds of a story graph's mask inputs
// (attention/reposition.ts declares them).
import type { TokenGrid } from '../../attention/isolation.ts';
import { gridKey, type GridInputs } from '../../attention/reposition.ts';
import { ort } from '../../runtime/session.ts';

/** Row/column bounds of the set cells of a [h·w] mask, or undefined when it is empty. */
export function maskBounds(mask: Uint8Array, grid: TokenGrid): { top: number; bottom: number; left: number; right: number } | undefined {
  let top = grid.height;
  let bottom = -1;
  let left = grid.width;
  let right = -1;
  for (let r = 0; r < grid.height; r++) {
    for (let c = 0; c < grid.width; c++) {
      if (!mask[r * grid.width + c]) continue;
      top = Math.min(top, r);
      bottom = Math.max(bottom, r);
      left = Math.min(left, c);
      right = Math.max(right, c);
    }
  }
  return bottom < 0 ? undefined : { top, bottom, left, right };
}

/** PyTorch's `nearest` source index for output index `i` when resizing `inSize` → `outSize` (float arithmetic as in ATen). */
export function nearestSource(i: number, inSize: number, outSize: number): number {
  if (inSize === outSize) return i;
  if (outSize === 2 * inSize) return i >> 1;
  const scale = Math.fround(inSize / outSize);
  return Math.min(Math.floor(Math.fround(i * scale)), inSize - 1);
}

export interface RepositionMap {
  /** Per target token: the source token it reads (0 where unused). */
  index: Int32Array;
  /** Per target token: 1 where it reads a source token inside S_i, else 0 (also the relocated key mask). */
  weight: Float32Array;
}

/**
 * The official rescale_hidden_states_sa + relocate_mask as a gather: the bbox of `source` is
 * nearest-resized (stretched, aspect ratio not kept) into the bbox of `target`. Empty masks give
 * all-zero weights (the official code skips the subject, or fails, there).
 */
export function repositionMap(source: Uint8Array, target: Uint8Array, grid: TokenGrid): RepositionMap {
  const tokens = grid.height * grid.width;
  const index = new Int32Array(tokens);
  const weight = new Float32Array(tokens);
  const src = maskBounds(source, grid);
  const dst = maskBounds(target, grid);
  if (!src || !dst) return { index, weight };
  const [inH, inW] = [src.bottom - src.top + 1, src.right - src.left + 1];
  const [outH, outW] = [dst.bottom - dst.top + 1, dst.right - dst.left + 1];
  for (let r = 0; r < outH; r++) {
    const sr = src.top + nearestSource(r, inH, outH);
    for (let c = 0; c < outW; c++) {
      const s = sr * grid.width + src.left + nearestSource(c, inW, outW);
      const t = (dst.top + r) * grid.width + dst.left + c;
      index[t] = s;
      weight[t] = source[s] ? 1 : 0;
    }
  }
  return { index, weight };
}

/** ConsiStory/IR mask dropout: keep each token of `target` with probability 1 − p; never empty a non-empty mask. */
export function dropTokens(target: Uint8Array, p: number, uniform: () => number): Uint8Array {
  if (p <= 0) return target;
  const kept = new Uint8Array(target.length);
  let any = false;
  for (let i = 0; i < target.length; i++) {
    // A draw for every token, inside the mask or not, as torch.bernoulli over the whole mask.
    const keep = uniform() < 1 - p;
    kept[i] = target[i] && keep ? 1 : 0;
    any ||= kept[i] === 1;
  }
  return any ? kept : target;
}

/** What the recipe knows per grid for one call: binary masks per subject. */
export interface GridMasks {
  /** T_i, one [S] 0/1 array per subject. */
  targets: Uint8Array[];
  /** T_i after this step's dropout (mutual grids). */
  queries?: Uint8Array[];
  /** Relocation of S_i into T_i (mutual grids). */
  maps?: RepositionMap[];
}

/** The feeds of one grid's inputs. */
export function gridFeeds(inputs: GridInputs, masks: GridMasks): Record<string, ort.Tensor> {
  const s = inputs.grid.height * inputs.grid.width;
  const stack = (list: readonly Uint8Array[]) => {
    const out = new Float32Array(list.length * s);
    list.forEach((m, i) => { for (let t = 0; t < s; t++) out[i * s + t] = m[t]; });
    return new ort.Tensor('float32', out, [list.length, s]);
  };
  const feeds: Record<string, ort.Tensor> = { [inputs.targets.name]: stack(masks.targets) };
  if (inputs.gather && inputs.keys && inputs.queries) {
    if (!masks.queries || !masks.maps) throw new Error(`internal: grid ${gridKey(inputs.grid)} uses the references but got no reposition masks`);
    const n = masks.maps.length;
    const gather = new BigInt64Array(n * s);
    const keys = new Float32Array(n * s);
    masks.maps.forEach((m, i) => {
      for (let t = 0; t < s; t++) {
        gather[i * s + t] = BigInt(i * s + m.index[t]);
        keys[i * s + t] = m.weight[t];
      }
    });
    feeds[inputs.queries.name] = stack(masks.queries);
    feeds[inputs.gather.name] = new ort.Tensor('int64', gather, [n * s]);
    feeds[inputs.keys.name] = new ort.Tensor('float32', keys, [n * s]);
  }
  return feeds;
}
