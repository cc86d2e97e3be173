// An upscaler file ready to run: one session per input size, tiled runs, and the edge padding that
// Real-ESRGAN's pixel unshuffle needs. Tiles are cores of `tile` pixels, each run with `overlap` pixels of
// context around it and cut back to the core, so every output pixel comes from a run that saw at least
// `overlap` pixels around it: seams vanish once that is the network's reach. (Blending overlapping tile
// outputs, as the VAE's tiling does, mixes in each tile's worst pixels, those at its edge.)
import { buildUpscalerGraph } from '../../models/upscale/graph.ts';
import type { UpscalerWeights } from '../../models/upscale/detect.ts';
import type { Nchw } from '../../models/vae/tiling.ts';
import { Session, tensor, type Provider } from '../../runtime/session.ts';

export interface UpscaleOptions {
  /** Tile side in input pixels; 0 or at least the image: the whole image at once. */
  tile: number;
  overlap: number;
  signal?: AbortSignal;
  progress?: (step: number, total: number) => void;
}

/** [1, 3, h, w] padded on the right and bottom to multiples of `m` by repeating the last row and column. */
function padToMultiple(x: Nchw, m: number): Nchw {
  const [, c, h, w] = x.dims;
  const [H, W] = [Math.ceil(h / m) * m, Math.ceil(w / m) * m];
  if (H === h && W === w) return x;
  const out = new Float32Array(c * H * W);
  for (let k = 0; k < c; k++) for (let y = 0; y < H; y++) for (let i = 0; i < W; i++) out[(k * H + y) * W + i] = x.data[(k * h + Math.min(y, h - 1)) * w + Math.min(i, w - 1)];
  return { data: out, dims: [1, c, H, W] };
}

/** One tile along an axis: its core [core, coreEnd) and the window [start, start + window) it is run on. */
interface Span {
  core: number;
  coreEnd: number;
  start: number;
}

/** Cores of `tile` along `length`, windows of tile + 2·overlap moved inside the image at its borders. */
function spans(length: number, tile: number, overlap: number): { window: number; spans: Span[] } {
  const window = Math.min(tile + 2 * overlap, length);
  const out: Span[] = [];
  for (let core = 0; core < length; core += tile) out.push({ core, coreEnd: Math.min(core + tile, length), start: Math.max(0, Math.min(core - overlap, length - window)) });
  return { window, spans: out };
}

function crop(x: Nchw, y0: number, x0: number, th: number, tw: number): Nchw {
  const [, c, h, w] = x.dims;
  const out = new Float32Array(c * th * tw);
  for (let k = 0; k < c; k++) for (let y = 0; y < th; y++) out.set(x.data.subarray((k * h + y0 + y) * w + x0, (k * h + y0 + y) * w + x0 + tw), (k * th + y) * tw);
  return { data: out, dims: [1, c, th, tw] };
}

function cropTo(x: Nchw, height: number, width: number): Nchw {
  const [, c, h, w] = x.dims;
  if (h === height && w === width) return x;
  const out = new Float32Array(c * height * width);
  for (let k = 0; k < c; k++) for (let y = 0; y < height; y++) out.set(x.data.subarray((k * h + y) * w, (k * h + y) * w + width), (k * height + y) * width);
  return { data: out, dims: [1, c, height, width] };
}

export class Upscaler {
  private readonly sessions = new Map<string, Promise<Session>>();

  constructor(
    readonly model: UpscalerWeights,
    private readonly providers: readonly Provider[],
  ) {}

  get scale(): number {
    return this.model.architecture.scale;
  }

  /** Input size granularity: Real-ESRGAN ×2/×1 pixel-unshuffle by 2/4. */
  private get multiple(): number {
    return this.model.architecture.kind === 'rrdb' ? this.model.architecture.unshuffle : 1;
  }

  private session(h: number, w: number): Promise<Session> {
    const key = `${h}x${w}`;
    let s = this.sessions.get(key);
    if (!s) {
      s = Session.create(buildUpscalerGraph(this.model, h, w), { providers: [...this.providers] });
      this.sessions.set(key, s);
      s.catch(() => this.sessions.delete(key));
    }
    return s;
  }

  private async runOnce(x: Nchw): Promise<Nchw> {
    const [, c, h, w] = x.dims;
    const out = (await (await this.session(h, w)).run({ image: tensor(x.data, x.dims) })).upscaled;
    return { data: out.data as Float32Array, dims: [1, c, h * this.scale, w * this.scale] };
  }

  /** Tiles of an h×w image at these options (for progress and reports). */
  tileCount(height: number, width: number, o: Pick<UpscaleOptions, 'tile' | 'overlap'>): number {
    const side = this.tileSide(o.tile);
    if (!side) return 1;
    const m = this.multiple;
    return Math.ceil(Math.ceil(height / m) * m / side) * Math.ceil(Math.ceil(width / m) * m / side);
  }

  /** The tile side rounded up to the unshuffle multiple; 0: no tiling. */
  private tileSide(tile: number): number {
    return tile > 0 ? Math.ceil(tile / this.multiple) * this.multiple : 0;
  }

  /** image [1, 3, H, W] in [0, 1] → [1, 3, s·H, s·W], not clamped. */
  async upscale(image: Nchw, o: UpscaleOptions): Promise<Nchw> {
    const [, , height, width] = image.dims;
    const padded = padToMultiple(image, this.multiple);
    const side = this.tileSide(o.tile);
    const total = this.tileCount(height, width, o);
    let done = 0;
    const step = async (x: Nchw) => {
      o.signal?.throwIfAborted();
      const out = await this.runOnce(x);
      o.progress?.(++done, total);
      return out;
    };
    const out = side ? await this.tiled(padded, side, Math.ceil(o.overlap / this.multiple) * this.multiple, step) : await step(padded);
    return cropTo(out, height * this.scale, width * this.scale);
  }

  private async tiled(x: Nchw, tile: number, overlap: number, run: (x: Nchw) => Promise<Nchw>): Promise<Nchw> {
    const [, c, h, w] = x.dims;
    const s = this.scale;
    const rows = spans(h, tile, overlap);
    const cols = spans(w, tile, overlap);
    const [H, W] = [h * s, w * s];
    const out = new Float32Array(c * H * W);
    const ww = cols.window * s;
    for (const r of rows.spans) {
      for (const q of cols.spans) {
        const part = (await run(crop(x, r.start, q.start, rows.window, cols.window))).data;
        const wh = rows.window * s;
        for (let k = 0; k < c; k++) {
          for (let y = r.core * s; y < r.coreEnd * s; y++) {
            const from = (k * wh + y - r.start * s) * ww + (q.core - q.start) * s;
            out.set(part.subarray(from, from + (q.coreEnd - q.core) * s), (k * H + y) * W + q.core * s);
          }
        }
      }
    }
    return { data: out, dims: [1, c, H, W] };
  }

  async release(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) await (await s).release();
  }
}
