// Subject boxes: [left, top, right, bottom] as fractions of the image (0–1), so a story keeps its
// layout at any size. A box becomes a token mask per attention grid; overlaps between subjects are
// limited and then removed, as IR-Diffusion removes mask overlaps (`is_no_mask_overlap`).
import type { TokenGrid } from '../../attention/isolation.ts';

export type Box = readonly [left: number, top: number, right: number, bottom: number];

/**
 * Two boxes may share at most this fraction of the smaller box's area. The shared cells go to the
 * larger box (the official post-processing visits masks from small to large and drops from each the
 * cells the others hold), so a larger overlap would leave the smaller subject too little room.
 */
export const MAX_OVERLAP = 0.25;

export class StoryInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoryInputError';
  }
}

const formatBox = (b: Box) => `[${b.map((v) => +v.toFixed(4)).join(', ')}]`;

/** Throws unless `box` is 4 numbers inside the image with left < right and top < bottom. */
export function checkBox(box: unknown, where: string): Box {
  if (!Array.isArray(box) || box.length !== 4 || box.some((v) => typeof v !== 'number' || !Number.isFinite(v))) {
    throw new StoryInputError(`${where}: a box is [left, top, right, bottom], four numbers (fractions of the image), got ${JSON.stringify(box)}`);
  }
  const b = box as unknown as Box;
  if (b.some((v) => v < 0 || v > 1)) {
    throw new StoryInputError(`${where}: box ${formatBox(b)} reaches outside the image; coordinates are fractions of the image width and height, from 0 to 1`);
  }
  if (!(b[0] < b[2] && b[1] < b[3])) {
    throw new StoryInputError(`${where}: box ${formatBox(b)} is empty; it needs left < right and top < bottom`);
  }
  return b;
}

export const boxArea = (b: Box): number => (b[2] - b[0]) * (b[3] - b[1]);

export function overlapArea(a: Box, b: Box): number {
  const w = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  return w > 0 && h > 0 ? w * h : 0;
}

/** Throws for the first pair of boxes sharing more than MAX_OVERLAP of the smaller one. */
export function checkOverlaps(boxes: ReadonlyArray<{ name: string; box: Box }>, where: string): void {
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const [a, b] = [boxes[i], boxes[j]];
      const shared = overlapArea(a.box, b.box) / Math.min(boxArea(a.box), boxArea(b.box));
      if (shared > MAX_OVERLAP) {
        throw new StoryInputError(
          `${where}: the boxes of "${a.name}" ${formatBox(a.box)} and "${b.name}" ${formatBox(b.box)} overlap by ${Math.round(shared * 100)}% of the smaller box; ` +
            `at most ${MAX_OVERLAP * 100}% is allowed (subjects are kept apart inside their boxes): move or shrink them`,
        );
      }
    }
  }
}

/** The cells of `grid` whose centres lie in `box`; a box too small for any centre gets the cell under its own centre. */
export function rasterizeBox(box: Box, grid: TokenGrid): Uint8Array {
  const mask = new Uint8Array(grid.height * grid.width);
  let any = false;
  for (let r = 0; r < grid.height; r++) {
    const y = (r + 0.5) / grid.height;
    if (y < box[1] || y >= box[3]) continue;
    for (let c = 0; c < grid.width; c++) {
      const x = (c + 0.5) / grid.width;
      if (x >= box[0] && x < box[2]) {
        mask[r * grid.width + c] = 1;
        any = true;
      }
    }
  }
  if (!any) {
    const r = Math.min(grid.height - 1, Math.floor(((box[1] + box[3]) / 2) * grid.height));
    const c = Math.min(grid.width - 1, Math.floor(((box[0] + box[2]) / 2) * grid.width));
    mask[r * grid.width + c] = 1;
  }
  return mask;
}

/** Per subject, its box's cells at `grid` with overlaps removed: visiting masks from small to large, each drops the cells any other still holds. */
export function targetMasks(boxes: readonly Box[], grid: TokenGrid): Uint8Array[] {
  const masks = boxes.map((b) => rasterizeBox(b, grid));
  const count = (m: Uint8Array) => m.reduce((a, v) => a + v, 0);
  const order = masks.map((m, i) => ({ i, size: count(m) })).sort((a, b) => a.size - b.size || a.i - b.i);
  for (const { i } of order) {
    for (let j = 0; j < masks.length; j++) {
      if (j === i) continue;
      for (let t = 0; t < masks[i].length; t++) if (masks[j][t]) masks[i][t] = 0;
    }
  }
  return masks;
}
