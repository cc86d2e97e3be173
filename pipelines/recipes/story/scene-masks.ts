// The IR mask feeds of one scene: target masks from the boxes at every grid of the story graph,
// relocation maps from each reference's source mask, and the query dropout redrawn at every call.
import type { TokenGrid } from '../../attention/isolation.ts';
import type { GridInputs } from '../../attention/reposition.ts';
import { dropTokens, gridFeeds, repositionMap, type GridMasks } from './reposition-masks.ts';
import { MT19937 } from '../../random/mt19937.ts';
import type { ort } from '../../runtime/session.ts';
import { binarizeMap } from './attention-maps.ts';
import { rasterizeBox, targetMasks, type Box } from './boxes.ts';

/** Where a subject is in its reference image: a box, or a soft attention map at the probe grid. */
export type SourceMask = { kind: 'box'; box: Box } | { kind: 'map'; map: Float32Array; grid: TokenGrid };

export function sourceMaskAt(source: SourceMask, grid: TokenGrid): Uint8Array {
  return source.kind === 'box' ? rasterizeBox(source.box, grid) : binarizeMap(source.map, source.grid, grid);
}

export interface SceneMaskOptions {
  grids: readonly GridInputs[];
  /** Per subject in batch order. */
  boxes: readonly Box[];
  sources: readonly SourceMask[];
  dropout: number;
  /** Model calls before this one read no reference (the official start_step). */
  startCall: number;
  seed: number;
}

/** Feeds for model call `call`; calls must come in order (the dropout stream is sequential). */
export function sceneMaskFeeds(o: SceneMaskOptions): (call: number) => Record<string, ort.Tensor> {
  const fixed = o.grids.map((inputs) => {
    const targets = targetMasks(o.boxes, inputs.grid);
    const maps = inputs.gather ? targets.map((t, i) => repositionMap(sourceMaskAt(o.sources[i], inputs.grid), t, inputs.grid)) : undefined;
    return { inputs, targets, maps };
  });
  // Its own stream, so the dropout never shifts the noise the sampler draws.
  const rng = new MT19937(BigInt(o.seed) ^ 0x1d5eedn);
  const uniform = () => rng.nextUint32() / 2 ** 32;
  return (call) => {
    const feeds: Record<string, ort.Tensor> = {};
    for (const { inputs, targets, maps } of fixed) {
      const masks: GridMasks = { targets, maps };
      if (maps) masks.queries = call < o.startCall ? targets.map((t) => new Uint8Array(t.length)) : targets.map((t) => dropTokens(t, o.dropout, uniform));
      Object.assign(feeds, gridFeeds(inputs, masks));
    }
    return feeds;
  };
}
