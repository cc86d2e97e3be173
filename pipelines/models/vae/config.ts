// AutoencoderKL hyper-parameters, as diffusers' `vae/config.json` names them.
import { Fields, type JsonObject } from '../../checkpoints/json-fields.ts';

export interface VaeConfig {
  inChannels: number;
  outChannels: number;
  latentChannels: number;
  blockOutChannels: number[];
  layersPerBlock: number;
  normNumGroups: number;
  /** Latents the UNet sees are `(z - shift) · scaling` (shift only for models that have one). */
  scalingFactor: number;
  shiftFactor?: number;
  /** Per-channel latent statistics some models use instead of one scale (`latents_mean` / `latents_std`). */
  latentsMean?: number[];
  latentsStd?: number[];
  midBlockAddAttention: boolean;
  useQuantConv: boolean;
  usePostQuantConv: boolean;
  /** diffusers' hint that this VAE overflows in fp16 (SDXL's); the fp16 decoder recovers either way. */
  forceUpcast: boolean;
}

/** Image pixels per latent pixel: one halving per encoder level after the first (8 for every SD VAE). */
export const vaeScale = (c: VaeConfig): number => 2 ** (c.blockOutChannels.length - 1);

/** The encoder's z [B, C, h, w] → UNet-space latents, in TypeScript (the graph's `scaleLatents` for tiled encodes). */
export function toUnetSpace(z: Float32Array, dims: readonly [number, number, number, number], c: VaeConfig): Float32Array {
  const [, channels, h, w] = dims;
  const plane = h * w;
  return z.map((v, i) => {
    const ch = Math.floor(i / plane) % channels;
    if (c.latentsMean && c.latentsStd) return ((v - c.latentsMean[ch]) * c.scalingFactor) / c.latentsStd[ch];
    return (v - (c.shiftFactor ?? 0)) * c.scalingFactor;
  });
}

export function vaeConfigFromDiffusers(json: JsonObject, source: string): VaeConfig {
  const f = new Fields(json, source);
  const blocks = f.ints('block_out_channels', [128, 256, 512, 512]);
  for (const key of ['down_block_types', 'up_block_types']) {
    const types = f.strs(key, []);
    const expected = key === 'down_block_types' ? 'DownEncoderBlock2D' : 'UpDecoderBlock2D';
    if (types.some((t) => t !== expected)) throw new Error(`${source}: ${key} ${JSON.stringify(types)} is not supported (only ${expected})`);
  }
  return {
    inChannels: f.int('in_channels', 3),
    outChannels: f.int('out_channels', 3),
    latentChannels: f.int('latent_channels', 4),
    blockOutChannels: blocks,
    layersPerBlock: f.int('layers_per_block', 2),
    normNumGroups: f.int('norm_num_groups', 32),
    scalingFactor: f.num('scaling_factor', 0.18215),
    shiftFactor: f.optionalNum('shift_factor'),
    latentsMean: f.optionalNums('latents_mean'),
    latentsStd: f.optionalNums('latents_std'),
    midBlockAddAttention: f.bool('mid_block_add_attention', true),
    useQuantConv: f.bool('use_quant_conv', true),
    usePostQuantConv: f.bool('use_post_quant_conv', true),
    forceUpcast: f.bool('force_upcast', true),
  };
}
