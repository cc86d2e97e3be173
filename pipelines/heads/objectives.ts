// What HeadHunter maximises. Image objectives score each preview on its own (higher is better) and
// need no model weights; the picks objective asks a person (the UI) which candidates of a round are
// better. Each objective has an `id` that names it with its parameters, for the search cache.
import { createHash } from 'node:crypto';
import type { HeadPick } from '../attention/head-perturbation.ts';
import { checkImage, luminance, resizeArea, type RgbImage } from './image.ts';
import { HEAD_OBJECTIVE_NAMES } from '../jobs/api-heads.ts';

export interface ImageObjective {
  kind: 'image';
  id: string;
  /** Higher is better. */
  score(img: RgbImage): number;
}

/** One candidate of a round: the current set plus one more head, with its previews. */
export interface PickCandidate {
  /** `L3H1`, the added head's name: what a pick refers to. */
  name: string;
  heads: HeadPick[];
  images: RgbImage[];
}

export interface PicksRound {
  round: number;
  /** Heads chosen in earlier rounds. */
  current: HeadPick[];
  /** The set's own previews (the baseline the candidates are compared with). */
  currentImages: RgbImage[];
  candidates: PickCandidate[];
  /** How many heads the round may add. */
  k: number;
}

export interface PicksObjective {
  kind: 'picks';
  id: string;
  /** Candidate names chosen, best first (at most k are added; none ends the search). */
  choose(round: PicksRound): Promise<string[]>;
}

export type Objective = ImageObjective | PicksObjective;

const mean = (a: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s / a.length;
};
const variance = (a: ArrayLike<number>) => {
  const m = mean(a);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - m) ** 2;
  return s / a.length;
};

/** Variance of the 4-neighbour Laplacian of luma over interior pixels: high for crisp detail. */
export const sharpness: ImageObjective = {
  kind: 'image',
  id: 'sharpness',
  score(img) {
    checkImage(img, 'sharpness');
    const { width: w, height: h } = img;
    if (w < 3 || h < 3) throw new RangeError(`sharpness needs an image of at least 3×3 pixels (got ${w}×${h})`);
    const y = luminance(img);
    const lap = new Float32Array((w - 2) * (h - 2));
    let k = 0;
    for (let r = 1; r < h - 1; r++) {
      for (let c = 1; c < w - 1; c++) {
        const p = r * w + c;
        lap[k++] = y[p - w] + y[p + w] + y[p - 1] + y[p + 1] - 4 * y[p];
      }
    }
    return variance(lap);
  },
};

/** RMS contrast: the standard deviation of luma. */
export const contrast: ImageObjective = {
  kind: 'image',
  id: 'contrast',
  score(img) {
    checkImage(img, 'contrast');
    return Math.sqrt(variance(luminance(img)));
  },
};

/**
 * Hasler & Süsstrunk's colourfulness on 0–255 values: with rg = R − G and yb = (R + G)/2 − B,
 * M = √(σ_rg² + σ_yb²) + 0.3·√(μ_rg² + μ_yb²). Around 0 for grey, above ~80 for very colourful.
 */
export const colourfulness: ImageObjective = {
  kind: 'image',
  id: 'colourfulness',
  score(img) {
    checkImage(img, 'colourfulness');
    const n = img.width * img.height;
    const rg = new Float32Array(n);
    const yb = new Float32Array(n);
    for (let p = 0; p < n; p++) {
      const [r, g, b] = [img.data[3 * p] * 255, img.data[3 * p + 1] * 255, img.data[3 * p + 2] * 255];
      rg[p] = r - g;
      yb[p] = (r + g) / 2 - b;
    }
    return Math.sqrt(variance(rg) + variance(yb)) + 0.3 * Math.sqrt(mean(rg) ** 2 + mean(yb) ** 2);
  },
};

/** Closeness to a reference image: minus the RMS difference after resizing the reference to the preview's size. */
export function referenceCloseness(reference: RgbImage): ImageObjective {
  checkImage(reference, 'reference image');
  const digest = createHash('sha256').update(new Uint8Array(reference.data.buffer, reference.data.byteOffset, reference.data.byteLength)).digest('hex').slice(0, 16);
  const sized = new Map<string, RgbImage>();
  return {
    kind: 'image',
    id: `reference:${reference.width}x${reference.height}:${digest}`,
    score(img) {
      checkImage(img, 'reference closeness');
      const key = `${img.width}x${img.height}`;
      let ref = sized.get(key);
      if (!ref) sized.set(key, (ref = resizeArea(reference, img.width, img.height)));
      let s = 0;
      for (let i = 0; i < img.data.length; i++) s += (img.data[i] - ref.data[i]) ** 2;
      return -Math.sqrt(s / img.data.length);
    },
  };
}

/**
 * A person's choices as the objective: `source` is called once per round with the candidates, or is
 * an async iterator yielding each round's choices (the UI pushes them as the user clicks).
 */
export function picksObjective(source: ((round: PicksRound) => Promise<string[]> | string[]) | AsyncIterator<string[]>, id = 'picks'): PicksObjective {
  return {
    kind: 'picks',
    id,
    async choose(round) {
      if (typeof source === 'function') return source(round);
      const next = await source.next();
      if (next.done) return [];
      return next.value;
    },
  };
}

export const IMAGE_OBJECTIVES: Record<string, ImageObjective> = { sharpness, contrast, colourfulness, colorfulness: colourfulness };

/** Objective names the command line accepts. */
export const OBJECTIVE_NAMES = HEAD_OBJECTIVE_NAMES;

export function objectiveByName(name: string, reference?: RgbImage): ImageObjective {
  if (name === 'reference') {
    if (!reference) throw new RangeError('objective "reference" needs a reference image');
    return referenceCloseness(reference);
  }
  const o = IMAGE_OBJECTIVES[name];
  if (!o) throw new RangeError(`unknown objective "${name}"; use one of: ${OBJECTIVE_NAMES.join(', ')} (the "picks" objective is chosen in the studio's UI)`);
  return o;
}
