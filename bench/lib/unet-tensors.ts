// The tensors of a diffusers UNet2DConditionModel (conv projections, no SDXL text_time) and of LinFusion
// modules for it, as module lists with their initialisation kind, so a benchmark can write random
// weights of the right layout without holding a real checkpoint. Also the SD 1.5 UNet config.
import type { UNetConfig } from '../../pipelines/models/unet/config.ts';
import { upIndex } from '../../pipelines/models/unet/config.ts';
import { selfAttentionLayers } from '../../pipelines/models/unet/layers.ts';

/** Stable Diffusion 1.5's `unet/config.json`, as diffusers writes it. */
export const SD15_UNET_CONFIG = {
  _class_name: 'UNet2DConditionModel',
  act_fn: 'silu',
  attention_head_dim: 8,
  block_out_channels: [320, 640, 1280, 1280],
  center_input_sample: false,
  cross_attention_dim: 768,
  down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
  downsample_padding: 1,
  flip_sin_to_cos: true,
  freq_shift: 0,
  in_channels: 4,
  layers_per_block: 2,
  mid_block_scale_factor: 1,
  norm_eps: 1e-5,
  norm_num_groups: 32,
  out_channels: 4,
  sample_size: 64,
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
};

/** Stable Diffusion XL base's `unet/config.json` (the settings that differ from diffusers' defaults). */
export const SDXL_UNET_CONFIG = {
  _class_name: 'UNet2DConditionModel',
  addition_embed_type: 'text_time',
  addition_embed_type_num_heads: 64,
  addition_time_embed_dim: 256,
  attention_head_dim: [5, 10, 20],
  block_out_channels: [320, 640, 1280],
  cross_attention_dim: 2048,
  down_block_types: ['DownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D'],
  flip_sin_to_cos: true,
  freq_shift: 0,
  in_channels: 4,
  layers_per_block: 2,
  norm_num_groups: 32,
  out_channels: 4,
  projection_class_embeddings_input_dim: 2816,
  sample_size: 128,
  transformer_layers_per_block: [1, 2, 10],
  up_block_types: ['CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'UpBlock2D'],
  use_linear_projection: true,
};

/** How a tensor is initialised: PyTorch's defaults (U(±1/√fan-in) for Linear/Conv, ones/zeros for norms). */
export type Init = { kind: 'uniform'; bound: number } | { kind: 'ones' } | { kind: 'zeros' };

export interface TensorSpec {
  name: string;
  shape: number[];
  init: Init;
}

export class SpecList {
  readonly specs: TensorSpec[] = [];

  linear(name: string, out: number, inp: number, bias = true): void {
    const bound = 1 / Math.sqrt(inp);
    this.specs.push({ name: `${name}.weight`, shape: [out, inp], init: { kind: 'uniform', bound } });
    if (bias) this.specs.push({ name: `${name}.bias`, shape: [out], init: { kind: 'uniform', bound } });
  }

  conv(name: string, out: number, inp: number, k: number): void {
    const bound = 1 / Math.sqrt(inp * k * k);
    this.specs.push({ name: `${name}.weight`, shape: [out, inp, k, k], init: { kind: 'uniform', bound } });
    this.specs.push({ name: `${name}.bias`, shape: [out], init: { kind: 'uniform', bound } });
  }

  norm(name: string, channels: number): void {
    this.specs.push({ name: `${name}.weight`, shape: [channels], init: { kind: 'ones' } });
    this.specs.push({ name: `${name}.bias`, shape: [channels], init: { kind: 'zeros' } });
  }
}

function resnet(s: SpecList, name: string, inp: number, out: number, temb: number): void {
  s.norm(`${name}.norm1`, inp);
  s.conv(`${name}.conv1`, out, inp, 3);
  s.linear(`${name}.time_emb_proj`, out, temb);
  s.norm(`${name}.norm2`, out);
  s.conv(`${name}.conv2`, out, out, 3);
  if (inp !== out) s.conv(`${name}.conv_shortcut`, out, inp, 1);
}

function transformer(s: SpecList, name: string, c: number, text: number, depth: number, linearProjection: boolean): void {
  s.norm(`${name}.norm`, c);
  if (linearProjection) s.linear(`${name}.proj_in`, c, c);
  else s.conv(`${name}.proj_in`, c, c, 1);
  for (let k = 0; k < depth; k++) {
    const b = `${name}.transformer_blocks.${k}`;
    s.norm(`${b}.norm1`, c);
    for (const p of ['to_q', 'to_k', 'to_v']) s.linear(`${b}.attn1.${p}`, c, c, false);
    s.linear(`${b}.attn1.to_out.0`, c, c);
    s.norm(`${b}.norm2`, c);
    s.linear(`${b}.attn2.to_q`, c, c, false);
    s.linear(`${b}.attn2.to_k`, c, text, false);
    s.linear(`${b}.attn2.to_v`, c, text, false);
    s.linear(`${b}.attn2.to_out.0`, c, c);
    s.norm(`${b}.norm3`, c);
    s.linear(`${b}.ff.net.0.proj`, 8 * c, c);
    s.linear(`${b}.ff.net.2`, c, 4 * c);
  }
  if (linearProjection) s.linear(`${name}.proj_out`, c, c);
  else s.conv(`${name}.proj_out`, c, c, 1);
}

/** Every tensor of the UNet, with diffusers' names and shapes. */
export function unetTensorSpecs(cfg: UNetConfig): TensorSpec[] {
  const s = new SpecList();
  const ch = cfg.blockOutChannels;
  const n = ch.length;
  const temb = cfg.timeEmbedDim;
  s.conv('conv_in', ch[0], cfg.inChannels, cfg.convInKernel);
  s.linear('time_embedding.linear_1', temb, ch[0]);
  s.linear('time_embedding.linear_2', temb, temb);
  if (cfg.textTime) {
    s.linear('add_embedding.linear_1', temb, cfg.textTime.projectionInputDim);
    s.linear('add_embedding.linear_2', temb, temb);
  }
  let prev = ch[0];
  cfg.downBlockTypes.forEach((type, i) => {
    for (let j = 0; j < cfg.layersPerBlock[i]; j++) {
      resnet(s, `down_blocks.${i}.resnets.${j}`, j === 0 ? prev : ch[i], ch[i], temb);
      if (type === 'CrossAttnDownBlock2D') transformer(s, `down_blocks.${i}.attentions.${j}`, ch[i], cfg.crossAttentionDim[i], cfg.downDepth[i][j], cfg.useLinearProjection);
    }
    if (i < n - 1) s.conv(`down_blocks.${i}.downsamplers.0.conv`, ch[i], ch[i], 3);
    prev = ch[i];
  });
  if (cfg.hasMidBlock) {
    const c = ch[n - 1];
    resnet(s, 'mid_block.resnets.0', c, c, temb);
    transformer(s, 'mid_block.attentions.0', c, cfg.crossAttentionDim[n - 1], cfg.midDepth, cfg.useLinearProjection);
    resnet(s, 'mid_block.resnets.1', c, c, temb);
  }
  prev = ch[n - 1];
  cfg.upBlockTypes.forEach((type, i) => {
    const r = upIndex(cfg, i);
    const out = ch[r];
    const skipIn = ch[Math.max(r - 1, 0)];
    const layers = cfg.layersPerBlock[r] + 1;
    for (let j = 0; j < layers; j++) {
      const skip = j === layers - 1 ? skipIn : out;
      resnet(s, `up_blocks.${i}.resnets.${j}`, (j === 0 ? prev : out) + skip, out, temb);
      if (type === 'CrossAttnUpBlock2D') transformer(s, `up_blocks.${i}.attentions.${j}`, out, cfg.crossAttentionDim[r], cfg.upDepth[i][j], cfg.useLinearProjection);
    }
    if (i < n - 1) s.conv(`up_blocks.${i}.upsamplers.0.conv`, out, out, 3);
    prev = out;
  });
  s.norm('conv_norm_out', ch[0]);
  s.conv('conv_out', cfg.outChannels, ch[0], cfg.convOutKernel);
  return s.specs;
}

export interface LinFusionEntry {
  dim_n: number;
  heads: number;
  module_name: string;
  projection_mid_dim: number | null;
}

/**
 * LinFusion modules for every self-attention layer, in the order LinFusion lists them (the UNet's module
 * registration order: down blocks, up blocks, then the mid block), with MLP branches as wide as the layer.
 */
export function linfusionModules(cfg: UNetConfig): { config: { _class_name: string; modules_list: LinFusionEntry[] }; specs: TensorSpec[] } {
  const layers = selfAttentionLayers(cfg);
  const rank = (name: string) => (name.startsWith('down_') ? 0 : name.startsWith('up_') ? 1 : 2);
  const ordered = [...layers].sort((a, b) => rank(a.name) - rank(b.name) || a.index - b.index);
  const s = new SpecList();
  const modules_list = ordered.map((l, i) => {
    const c = l.channels;
    for (const p of ['to_q', 'to_k', 'to_v']) s.linear(`${i}.${p}`, c, c, false);
    s.linear(`${i}.to_out.0`, c, c);
    for (const p of ['to_q_', 'to_k_']) {
      s.linear(`${i}.${p}.0`, c, c);
      s.norm(`${i}.${p}.1`, c);
      s.linear(`${i}.${p}.3`, c, c);
    }
    return { dim_n: c, heads: l.heads, module_name: l.name, projection_mid_dim: null };
  });
  return { config: { _class_name: 'LinFusion', modules_list }, specs: s.specs };
}

export const parameterCount = (specs: readonly TensorSpec[]): number => specs.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);

/**
 * Widths of a UNet's conditioning inputs: the text embeddings, and for SDXL-like UNets the pooled text embedding,
 * what the text-time projection takes besides the 6 size/crop ids (1280 for SDXL).
 */
export function conditioningWidths(cfg: UNetConfig): { width: number; pooled?: number; timeIds: number } {
  const t = cfg.textTime;
  return { width: cfg.crossAttentionDim[0], ...(t ? { pooled: t.projectionInputDim - 6 * t.timeEmbedDim } : {}), timeIds: 6 };
}
