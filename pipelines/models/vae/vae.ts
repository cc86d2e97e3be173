// An AutoencoderKL ready to run: sessions built per image size on demand, an fp16 decoder that
// falls back to fp32 when its output is broken (and then lets the fp16 sessions go), and tiled decoding
// and encoding for large images.
//
// Tiling: overlapping tiles of one size (one graph serves them all), blended with linear ramps across
// each overlap, as diffusers' enable_vae_tiling (which LinFusion's ladder uses from 4K on) does. Each tile
// takes its own GroupNorm statistics and mid-block attention, so a tiled result is close to, not equal
// to, the whole-image one (test/vae.test.ts states the tolerance); gathering GroupNorm statistics over the
// whole image cannot make it exact either, because the mid-block attention is global.
import type { TensorSource } from '../../onnx/weights.ts';
import { f32ToF16 } from '../../io/safetensors.ts';
import { f16Tensor, tensor, type Session, type SessionOptions } from '../../runtime/session.ts';
import { ModelSessions } from '../../runtime/session-cache.ts';
import { buildVaeDecoderGraph, buildVaeEncoderGraph } from './autoencoder.ts';
import { toUnetSpace, vaeScale, type VaeConfig } from './config.ts';
import { tiledApply, tileStarts, type Nchw } from './tiling.ts';
import { allFinite, brokenImageFrom, type BrokenOutput } from '../../runtime/result-checks.ts';
import type { FusedKernels } from '../../runtime/kernels.ts';
import { KernelChoice, kernelPart } from '../kernel-choice.ts';

export interface VaeOptions {
  session?: SessionOptions;
  /** Where its sessions live (the pipeline's, under `vae`); absent: its own. */
  sessions?: ModelSessions;
  /** Decoder compute dtype (default float32). float16 decodes are checked and redone in float32 when broken. */
  decodeDtype?: 'float32' | 'float16';
  /** The provider's fused kernels for the decoder and encoder graphs (runtime/kernels.ts); undefined: the plain graphs. */
  kernels?: FusedKernels;
  /** Encoder compute dtype (default float32). float16 encodes whose posterior is not finite are redone in float32. */
  encodeDtype?: 'float32' | 'float16';
  /** Tiles stacked along the batch axis into one session run of a tiled decode or encode (default 1). */
  tilesPerRun?: number;
  /** When decode and encode switch to tiles by themselves (default: images wider or taller than 2048 px); false: never. */
  tiling?: AutoTiling | false;
}

export interface AutoTiling extends TileOptions {
  /** Tile images whose longer side is above this many pixels. */
  above: number;
}

/** LinFusion's ladder: diffusers' tiling with 2048-pixel tiles, switched on for the 4K stage and above. */
export const DEFAULT_TILING: Required<AutoTiling> = { above: 2048, tile: 256, overlap: 64 };

export interface DecodeResult extends Nchw {
  /** Set when the fp16 decoder's output was broken and the image was recomputed in fp32. */
  recoveredFrom?: BrokenOutput;
}

export interface EncodeResult {
  mean: Nchw;
  std: Nchw;
  /** mean + std·noise, when noise was given. */
  sample?: Nchw;
  /** The sample (or the mean) in UNet latent space. */
  latents: Nchw;
}

export interface TileOptions {
  /** Tile size in latent pixels (default 64, i.e. 512 image pixels). */
  tile?: number;
  /** Overlap of neighbouring tiles in latent pixels (default a quarter of the tile). */
  overlap?: number;
}

/** How a tiled decode or encode runs: its layout, progress, and the tiles stacked into one session run. */
export interface TiledRun extends TileOptions {
  onTile?: TileProgress;
  /** Tiles stacked along the batch axis into one session run (default: the Vae's `tilesPerRun`, else 1). */
  tilesPerRun?: number;
  /** On the process's shared arena (PlannedTiles.sharedArena). */
  sharedArena?: boolean;
}

/** The memory plan's tiling for a stage (recipes/hires/memory-plan.ts); absent fields: the VAE's own choice. */
export interface PlannedTiles {
  /** Tile side in latent pixels, a quarter of it overlapping; any image larger than it is tiled. */
  vaeTile?: number;
  /** Tiles stacked into one session run. */
  vaeTilesPerRun?: number;
  /**
   * The stage's UNet runs split into sessions on the process's shared arena (CUDA's pool by default): the VAE's
   * sessions draw from it too, so what the encoder held is the UNet's next and the decoder's after. On their own
   * arenas they held 6 GiB beside the split UNet at 16384×8192 (bench/NOTES.md, session 11).
   */
  sharedArena?: boolean;
}

/** A session's cache key: one on the shared arena is another session than one on its own. */
const arenaPart = (key: string, shared: boolean): string => (shared ? `${key}/shared` : key);

/** Called after each tile: how many are done of how many. */
export type TileProgress = (done: number, total: number) => void;

export class Vae {
  private readonly sessions: ModelSessions;
  private decodeDtype: 'float32' | 'float16';
  private encodeDtype: 'float32' | 'float16';
  private readonly kernels: KernelChoice;
  private halves?: Uint16Array<ArrayBuffer>;

  constructor(
    readonly source: TensorSource,
    readonly config: VaeConfig,
    private readonly o: VaeOptions = {},
  ) {
    this.decodeDtype = o.decodeDtype ?? 'float32';
    this.encodeDtype = o.encodeDtype ?? 'float32';
    this.sessions = o.sessions ?? ModelSessions.standalone('vae');
    this.kernels = new KernelChoice(o.kernels);
  }

  /** Why the decoder and encoder run the plain graphs although fused kernels were asked for (undefined: they do not). */
  get fusedRefusedBecause(): string | undefined {
    return this.kernels.refusedBecause;
  }

  /** The dtype the next decode starts with (float32 for good once an fp16 decode had to be redone). */
  get currentDecodeDtype(): 'float32' | 'float16' {
    return this.decodeDtype;
  }

  /** The dtype the next encode starts with (float32 for good once an fp16 encode had to be redone). */
  get currentEncodeDtype(): 'float32' | 'float16' {
    return this.encodeDtype;
  }

  /** The image, and whether it is broken (runtime/result-checks.ts; from the graph's sum and maximum). */
  private async decodeWith(dtype: 'float32' | 'float16', latents: Nchw, shared: boolean): Promise<{ image: Nchw; broken?: BrokenOutput }> {
    const [b, c, h, w] = latents.dims;
    if (c !== this.config.latentChannels) throw new RangeError(`latents have ${c} channels; this VAE takes ${this.config.latentChannels}`);
    const s = await this.decoderSession(dtype, h, w, shared);
    const feed = dtype === 'float16' ? f16Tensor(this.toHalf(latents.data), latents.dims) : tensor(latents.data, latents.dims);
    const out = await s.run({ latents: feed });
    const broken = brokenImageFrom(out.image_sum.data[0] as number, out.image_max.data[0] as number);
    return { image: { data: out.image.data as Float32Array, dims: [b, this.config.outChannels, h * vaeScale(this.config), w * vaeScale(this.config)] }, broken };
  }

  /** fp16 bits of a tile's input in one buffer reused while tiles keep their size (sessions copy their inputs). */
  private toHalf(values: Float32Array): Uint16Array {
    if (this.halves?.length !== values.length) this.halves = new Uint16Array(values.length);
    return f32ToF16(values, this.halves);
  }

  /** The decoder for one latent size, with the provider's fused kernels when given (../kernel-choice.ts). */
  private decoderSession(dtype: 'float32' | 'float16', h: number, w: number, shared: boolean): Promise<Session> {
    const sessions = this.sessions.child(`decode/${dtype}`);
    return this.kernels.create((k) => sessions.get(arenaPart(kernelPart(`${h}x${w}`, k), shared), () => buildVaeDecoderGraph(this.source, this.config, h, w, { dtype, kernels: k }), this.sessionOptions(shared)));
  }

  /** This VAE's session options (absent: its sessions' defaults), on the shared arena when asked. */
  private sessionOptions(shared: boolean): SessionOptions | undefined {
    return shared ? { ...(this.o.session ?? this.sessions.defaults), sharedArena: true } : this.o.session;
  }

  /**
   * The tile layout decode and encode use for an image of this size; undefined: in one piece. `tile` (latent
   * pixels, a quarter of it overlapping: the memory plan's choice for a stage) tiles any image larger than it.
   */
  tilingFor(imageHeight: number, imageWidth: number, tile?: number): Required<TileOptions> | undefined {
    if (this.o.tiling === false) return undefined;
    const scale = vaeScale(this.config);
    if (tile) return Math.max(imageHeight, imageWidth) > tile * scale ? { tile, overlap: tile / 4 } : undefined;
    const t = { ...DEFAULT_TILING, ...this.o.tiling };
    return Math.max(imageHeight, imageWidth) > t.above ? { tile: t.tile, overlap: t.overlap } : undefined;
  }

  /** UNet-space latents [B, C, h, w] → image [B, 3, 8h, 8w] in about [-1, 1]; in tiles above the tiling threshold. */
  async decode(latents: Nchw, onTile?: TileProgress, planned: PlannedTiles = {}): Promise<DecodeResult> {
    const s = vaeScale(this.config);
    const tiling = this.tilingFor(latents.dims[2] * s, latents.dims[3] * s, planned.vaeTile);
    const shared = planned.sharedArena === true;
    return tiling ? this.decodeTiled(latents, { ...tiling, onTile, tilesPerRun: planned.vaeTilesPerRun, sharedArena: shared }) : this.decodeWhole(latents, shared);
  }

  private async decodeWhole(latents: Nchw, shared = false): Promise<DecodeResult> {
    if (this.decodeDtype === 'float32') return (await this.decodeWith('float32', latents, shared)).image;
    const half = await this.decodeWith('float16', latents, shared);
    const broken = half.broken;
    if (!broken) return half.image;
    // fp32 from now on: the fp16 decoders will not run again, so their weights and arena go back at once.
    this.decodeDtype = 'float32';
    await this.sessions.child('decode/float16').release();
    return { ...(await this.decodeWith('float32', latents, shared)).image, recoveredFrom: broken };
  }

  /** Decodes overlapping latent tiles of one size and blends them: memory stays that of one tile. */
  async decodeTiled(latents: Nchw, t: TiledRun = {}): Promise<DecodeResult> {
    const tile = t.tile ?? 64;
    const overlap = t.overlap ?? Math.floor(tile / 4);
    let recoveredFrom: BrokenOutput | undefined;
    const total = tileCount(latents.dims[2], latents.dims[3], tile, overlap);
    let done = 0;
    const image = await tiledApply(latents, tile, overlap, vaeScale(this.config), async (parts, origins) => {
      const r = await this.decodeWhole(parts, t.sharedArena);
      recoveredFrom ??= r.recoveredFrom;
      t.onTile?.((done += origins.length), total);
      return r;
    }, { perCall: t.tilesPerRun ?? this.o.tilesPerRun });
    return { ...image, recoveredFrom };
  }

  /**
   * Image [B, 3, H, W] in [-1, 1] → posterior (and a sample when `noise` [B, C, H/8, W/8] is given); in
   * tiles above the tiling threshold.
   */
  async encode(image: Nchw, noise?: Float32Array, onTile?: TileProgress, planned: PlannedTiles = {}): Promise<EncodeResult> {
    const tiling = this.tilingFor(image.dims[2], image.dims[3], planned.vaeTile);
    const shared = planned.sharedArena === true;
    return tiling ? this.encodeTiled(image, noise, { ...tiling, onTile, tilesPerRun: planned.vaeTilesPerRun, sharedArena: shared }) : this.encodeWhole(image, noise, shared);
  }

  /**
   * Encodes overlapping image tiles and blends their posteriors (mean and std) in latent space, then
   * draws the sample from the blended posterior with the whole image's noise.
   */
  async encodeTiled(image: Nchw, noise?: Float32Array, t: TiledRun = {}): Promise<EncodeResult> {
    const s = vaeScale(this.config);
    const tile = t.tile ?? 64;
    const overlap = t.overlap ?? Math.floor(tile / 4);
    const c = this.config.latentChannels;
    const total = tileCount(image.dims[2] / s, image.dims[3] / s, tile, overlap);
    let done = 0;
    const moments = await tiledApply(image, tile, overlap, 1, async (parts, origins) => {
      const r = await this.encodeWhole(parts, undefined, t.sharedArena);
      t.onTile?.((done += origins.length), total);
      const [b, , h, w] = r.mean.dims;
      const both = new Float32Array(b * 2 * c * h * w);
      const plane = c * h * w;
      for (let i = 0; i < b; i++) {
        both.set(r.mean.data.subarray(i * plane, (i + 1) * plane), 2 * i * plane);
        both.set(r.std.data.subarray(i * plane, (i + 1) * plane), (2 * i + 1) * plane);
      }
      return { data: both, dims: [b, 2 * c, h, w] };
    }, { inScale: s, perCall: t.tilesPerRun ?? this.o.tilesPerRun });
    const [b, , h, w] = moments.dims;
    const plane = c * h * w;
    const mean = new Float32Array(b * plane);
    const std = new Float32Array(b * plane);
    for (let i = 0; i < b; i++) {
      mean.set(moments.data.subarray(2 * i * plane, (2 * i + 1) * plane), i * plane);
      std.set(moments.data.subarray((2 * i + 1) * plane, (2 * i + 2) * plane), i * plane);
    }
    const dims = [b, c, h, w] as const;
    const sample = noise ? mean.map((m, i) => m + std[i] * noise[i]) : undefined;
    return { mean: { data: mean, dims }, std: { data: std, dims }, sample: sample && { data: sample, dims }, latents: { data: toUnetSpace(sample ?? mean, dims, this.config), dims } };
  }

  private async encodeWhole(image: Nchw, noise?: Float32Array, shared = false): Promise<EncodeResult> {
    if (this.encodeDtype === 'float32') return this.encodeWith('float32', image, noise, shared);
    const half = await this.encodeWith('float16', image, noise, shared);
    if (allFinite(half.mean.data) && allFinite(half.std.data)) return half;
    // As the decoder: fp32 from now on, and the fp16 encoders' weights and arena go back at once.
    this.encodeDtype = 'float32';
    await this.sessions.child('encode/float16').release();
    return this.encodeWith('float32', image, noise, shared);
  }

  private async encodeWith(dtype: 'float32' | 'float16', image: Nchw, noise: Float32Array | undefined, shared: boolean): Promise<EncodeResult> {
    const [b, , h, w] = image.dims;
    const withNoise = noise !== undefined;
    const sessions = this.sessions.child(`encode/${dtype}`);
    const s = await this.kernels.create((k) => sessions.get(arenaPart(kernelPart(`${h}x${w}/${withNoise}`, k), shared), () => buildVaeEncoderGraph(this.source, this.config, h, w, { dtype, withNoise, kernels: k }), this.sessionOptions(shared)));
    const latentDims = [b, this.config.latentChannels, h / vaeScale(this.config), w / vaeScale(this.config)] as const;
    const pixels = dtype === 'float16' ? f16Tensor(this.toHalf(image.data), image.dims) : tensor(image.data, image.dims);
    const feeds = { image: pixels, ...(noise ? { noise: tensor(noise, latentDims) } : {}) };
    const out = await s.run(feeds);
    const nchw = (name: string): Nchw => ({ data: out[name].data as Float32Array, dims: latentDims });
    return { mean: nchw('mean'), std: nchw('std'), sample: withNoise ? nchw('sample') : undefined, latents: nchw('latents') };
  }

  release(): Promise<void> {
    return this.sessions.release();
  }
}

function tileCount(h: number, w: number, tile: number, overlap: number): number {
  return tileStarts(h, Math.min(tile, h), overlap).length * tileStarts(w, Math.min(tile, w), overlap).length;
}
