// An AutoencoderKL ready to run: sessions built per image size on demand, an fp16 decoder that
// falls back to fp32 when its output is broken, and tiled decoding for large images.
import type { Graph } from '../../onnx/graph.ts';
import type { TensorSource } from '../../onnx/weights.ts';
import { f16ToF32, f32ToF16 } from '../../io/safetensors.ts';
import { f16Tensor, tensor, type Session, type SessionOptions } from '../../runtime/session.ts';
import { ModelSessions } from '../../runtime/session-cache.ts';
import { buildVaeDecoderGraph, buildVaeEncoderGraph } from './autoencoder.ts';
import { vaeScale, type VaeConfig } from './config.ts';
import { tiledApply, type Nchw } from './tiling.ts';
import { brokenImage, type BrokenOutput } from '../../runtime/result-checks.ts';

export interface VaeOptions {
  session?: SessionOptions;
  /** Where its sessions live (the pipeline's, under `vae`); absent: its own. */
  sessions?: ModelSessions;
  /** Decoder compute dtype (default float32). float16 decodes are checked and redone in float32 when broken. */
  decodeDtype?: 'float32' | 'float16';
  encodeDtype?: 'float32' | 'float16';
}

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

export class Vae {
  private readonly sessions: ModelSessions;
  private decodeDtype: 'float32' | 'float16';

  constructor(
    readonly source: TensorSource,
    readonly config: VaeConfig,
    private readonly o: VaeOptions = {},
  ) {
    this.decodeDtype = o.decodeDtype ?? 'float32';
    this.sessions = o.sessions ?? ModelSessions.standalone('vae');
  }

  /** The dtype the next decode starts with (float32 for good once an fp16 decode had to be redone). */
  get currentDecodeDtype(): 'float32' | 'float16' {
    return this.decodeDtype;
  }

  private session(key: string, build: () => Graph): Promise<Session> {
    return this.sessions.get(key, build, this.o.session);
  }

  private async decodeWith(dtype: 'float32' | 'float16', latents: Nchw): Promise<Nchw> {
    const [b, c, h, w] = latents.dims;
    if (c !== this.config.latentChannels) throw new RangeError(`latents have ${c} channels; this VAE takes ${this.config.latentChannels}`);
    const s = await this.session(`decode/${dtype}/${h}x${w}`, () => buildVaeDecoderGraph(this.source, this.config, h, w, { dtype }));
    const feed = dtype === 'float16' ? f16Tensor(f32ToF16(latents.data), latents.dims) : tensor(latents.data, latents.dims);
    const image = (await s.run({ latents: feed })).image.data;
    const data = dtype === 'float16' ? f16ToF32(image as Uint16Array) : (image as Float32Array);
    return { data, dims: [b, this.config.outChannels, h * vaeScale(this.config), w * vaeScale(this.config)] };
  }

  /** UNet-space latents [B, C, h, w] → image [B, 3, 8h, 8w] in about [-1, 1]. */
  async decode(latents: Nchw): Promise<DecodeResult> {
    if (this.decodeDtype === 'float32') return this.decodeWith('float32', latents);
    const half = await this.decodeWith('float16', latents);
    const broken = brokenImage(half.data);
    if (!broken) return half;
    this.decodeDtype = 'float32';
    return { ...(await this.decodeWith('float32', latents)), recoveredFrom: broken };
  }

  /** Decodes overlapping latent tiles of one size and blends them: memory stays that of one tile. */
  async decodeTiled(latents: Nchw, t: TileOptions = {}): Promise<DecodeResult> {
    const tile = t.tile ?? 64;
    const overlap = t.overlap ?? Math.floor(tile / 4);
    let recoveredFrom: BrokenOutput | undefined;
    const image = await tiledApply(latents, tile, overlap, vaeScale(this.config), async (part) => {
      const r = await this.decode(part);
      recoveredFrom ??= r.recoveredFrom;
      return r;
    });
    return { ...image, recoveredFrom };
  }

  /** Image [B, 3, H, W] in [-1, 1] → posterior (and a sample when `noise` [B, C, H/8, W/8] is given). */
  async encode(image: Nchw, noise?: Float32Array): Promise<EncodeResult> {
    const [b, , h, w] = image.dims;
    const dtype = this.o.encodeDtype ?? 'float32';
    const withNoise = noise !== undefined;
    const s = await this.session(`encode/${dtype}/${h}x${w}/${withNoise}`, () => buildVaeEncoderGraph(this.source, this.config, h, w, { dtype, withNoise }));
    const latentDims = [b, this.config.latentChannels, h / vaeScale(this.config), w / vaeScale(this.config)] as const;
    const feeds = { image: tensor(image.data, image.dims), ...(noise ? { noise: tensor(noise, latentDims) } : {}) };
    const out = await s.run(feeds);
    const nchw = (name: string): Nchw => ({ data: out[name].data as Float32Array, dims: latentDims });
    return { mean: nchw('mean'), std: nchw('std'), sample: withNoise ? nchw('sample') : undefined, latents: nchw('latents') };
  }

  release(): Promise<void> {
    return this.sessions.release();
  }
}
