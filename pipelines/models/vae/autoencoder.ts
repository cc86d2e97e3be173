// diffusers AutoencoderKL as graphs: the decoder (UNet latents → image in [-1, 1]) and the encoder
// (image → posterior mean, std, and a sample for a given noise). Tensor names are diffusers'
// (`encoder.*`, `decoder.*`, `quant_conv`, `post_quant_conv`).
import { Graph, type DType, type T } from '../../onnx/graph.ts';
import * as op from '../../onnx/ops.ts';
import * as nn from '../../onnx/nn.ts';
import { Weights, type TensorSource } from '../../onnx/weights.ts';
import { VAE_NORM_EPS, downsample, midBlock, resnetBlock, upsample } from './blocks.ts';
import { vaeScale, type VaeConfig } from './config.ts';
import type { FusedKernels } from '../../runtime/kernels.ts';

/** `fusedNorm`: GroupNorm+SiLU as the provider's one NHWC kernel (runtime/kernels.ts). */
export function decoder(w: Weights, z: T, cfg: VaeConfig, fusedNorm = false): T {
  const groups = cfg.normNumGroups;
  const channels = [...cfg.blockOutChannels].reverse();
  let x = nn.conv2d(w.sub('conv_in'), z, { padding: 1 });
  x = z.graph.scope('mid', () => midBlock(w.sub('mid_block'), x, groups, cfg.midBlockAddAttention, fusedNorm));
  channels.forEach((out, i) => {
    x = z.graph.scope(`up${i}`, () => {
      const block = w.sub(`up_blocks.${i}`);
      let h = x;
      for (let j = 0; j <= cfg.layersPerBlock; j++) h = resnetBlock(block.sub(`resnets.${j}`), h, out, groups, fusedNorm);
      return i < channels.length - 1 ? upsample(block.sub('upsamplers.0'), h) : h;
    });
  });
  x = nn.groupNormSilu(w.sub('conv_norm_out'), x, groups, VAE_NORM_EPS, fusedNorm);
  return nn.conv2d(w.sub('conv_out'), x, { padding: 1 });
}

/** The encoder's `2·latent` moments (mean ‖ logvar) before quant_conv; `fusedNorm` as the decoder's. */
export function encoder(w: Weights, image: T, cfg: VaeConfig, fusedNorm = false): T {
  const groups = cfg.normNumGroups;
  let x = nn.conv2d(w.sub('conv_in'), image, { padding: 1 });
  cfg.blockOutChannels.forEach((out, i) => {
    x = image.graph.scope(`down${i}`, () => {
      const block = w.sub(`down_blocks.${i}`);
      let h = x;
      for (let j = 0; j < cfg.layersPerBlock; j++) h = resnetBlock(block.sub(`resnets.${j}`), h, out, groups, fusedNorm);
      return i < cfg.blockOutChannels.length - 1 ? downsample(block.sub('downsamplers.0'), h) : h;
    });
  });
  x = image.graph.scope('mid', () => midBlock(w.sub('mid_block'), x, groups, cfg.midBlockAddAttention, fusedNorm));
  x = nn.groupNormSilu(w.sub('conv_norm_out'), x, groups, VAE_NORM_EPS, fusedNorm);
  return nn.conv2d(w.sub('conv_out'), x, { padding: 1 });
}

/** Per-channel [1, C, 1, 1] constant, or a scalar for one value. */
function perChannel(like: T, values: number[] | number): T {
  if (typeof values === 'number') return op.scalar(like, values);
  if (values.length !== like.dim(1)) throw new Error(`VAE config has ${values.length} latent statistics for ${like.dim(1)} latent channels`);
  return op.floats(like, values, [1, values.length, 1, 1]);
}

/** UNet-space latents → the decoder's z (diffusers: `x / scaling + shift`, or with per-channel mean/std). */
export function unscaleLatents(x: T, cfg: VaeConfig): T {
  if (cfg.latentsMean && cfg.latentsStd) {
    return op.add(op.div(op.mul(x, perChannel(x, cfg.latentsStd)), cfg.scalingFactor), perChannel(x, cfg.latentsMean));
  }
  const z = op.div(x, cfg.scalingFactor);
  return cfg.shiftFactor ? op.add(z, cfg.shiftFactor) : z;
}

/** The encoder's z → UNet-space latents (inverse of `unscaleLatents`). */
export function scaleLatents(z: T, cfg: VaeConfig): T {
  if (cfg.latentsMean && cfg.latentsStd) {
    return op.div(op.mul(op.sub(z, perChannel(z, cfg.latentsMean)), cfg.scalingFactor), perChannel(z, cfg.latentsStd));
  }
  return op.mul(cfg.shiftFactor ? op.sub(z, cfg.shiftFactor) : z, cfg.scalingFactor);
}

export interface VaeGraphOptions {
  /** Compute dtype; graph inputs and outputs stay float32. */
  dtype?: DType;
  name?: string;
  /** The provider's fused kernels to emit in the decoder (undefined: the plain graph). */
  kernels?: FusedKernels;
}

/**
 * Graph: `latents` [batch, C, h, w] (UNet space) in the compute dtype → `image` float32 [batch, 3, 8h, 8w] in
 * about [-1, 1]. An fp16 input makes latents past the fp16 range overflow on every provider alike (the CPU
 * provider would drop a Cast f32→f16→f32 pair and quietly keep the values in fp32); the output is cast to
 * float32 on the device, where an overflow inside stays Inf/NaN, so the host takes the image without converting
 * it (a 16384×8192 image in 1024 px tiles: 727 M values). `image_sum` and `image_max` (scalars over the whole
 * output) tell a broken fp16 image without the host reading it (runtime/result-checks.ts brokenImageFrom).
 */
export function buildVaeDecoderGraph(source: TensorSource, cfg: VaeConfig, latentHeight: number, latentWidth: number, o: VaeGraphOptions = {}): Graph {
  const g = new Graph(o.name ?? 'vae_decoder');
  const dtype = o.dtype ?? 'float32';
  const latents = g.input('latents', dtype, ['batch', cfg.latentChannels, latentHeight, latentWidth]);
  const w = new Weights(g, source, dtype);
  let z = unscaleLatents(latents, cfg);
  if (cfg.usePostQuantConv) z = nn.conv2d(w.sub('post_quant_conv'), z);
  const image = g.output(op.cast(decoder(w.sub('decoder'), z, cfg, o.kernels?.groupNormSilu), 'float32'), 'image');
  g.output(op.reduceSum(image, [0, 1, 2, 3], false), 'image_sum');
  g.output(op.reduceMax(image, [0, 1, 2, 3], false), 'image_max');
  return g;
}

/**
 * Graph: `image` [batch, 3, H, W] in [-1, 1] in the compute dtype (fp16 input, as the decoder's, so an fp16 encode
 * overflows on every provider alike), and `noise` float32 [batch, C, H/8, W/8] when `withNoise` → `mean`, `std`
 * (the posterior, unscaled, as diffusers' `latent_dist`), `sample` = mean + std·noise, and `latents` = the sample
 * (or the mean without noise) scaled into UNet space, all float32.
 */
export function buildVaeEncoderGraph(source: TensorSource, cfg: VaeConfig, height: number, width: number, o: VaeGraphOptions & { withNoise?: boolean } = {}): Graph {
  const scale = vaeScale(cfg);
  if (height % scale !== 0 || width % scale !== 0) throw new RangeError(`image size ${width}×${height} is not a multiple of ${scale}`);
  const g = new Graph(o.name ?? 'vae_encoder');
  const dtype = o.dtype ?? 'float32';
  const image = g.input('image', dtype, ['batch', cfg.inChannels, height, width]);
  const w = new Weights(g, source, dtype);
  let moments = encoder(w.sub('encoder'), image, cfg, o.kernels?.groupNormSilu);
  if (cfg.useQuantConv) moments = nn.conv2d(w.sub('quant_conv'), moments);
  const [meanC, logvarC] = op.chunk(op.cast(moments, 'float32'), 2, 1);
  const std = op.exp(op.mul(op.clip(logvarC, -30, 20), 0.5));
  const mean = g.output(meanC, 'mean');
  g.output(std, 'std');
  let z = mean;
  if (o.withNoise) {
    const noise = g.input('noise', 'float32', ['batch', cfg.latentChannels, height / scale, width / scale]);
    z = g.output(op.add(mean, op.mul(std, noise)), 'sample');
  }
  g.output(scaleLatents(z, cfg), 'latents');
  return g;
}
