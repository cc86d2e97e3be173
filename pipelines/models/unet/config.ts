// A diffusers `UNet2DConditionModel` config.json, normalised to per-block lists. The quirks of the
// format are resolved here once: `attention_head_dim` is really the head count (diffusers issue 2011),
// up blocks read reversed lists, and options that change the architecture in ways we do not build
// are refused with a message instead of producing a wrong graph.

export type DownBlockType = 'CrossAttnDownBlock2D' | 'DownBlock2D';
export type UpBlockType = 'CrossAttnUpBlock2D' | 'UpBlock2D';

export interface UNetConfig {
  inChannels: number;
  outChannels: number;
  blockOutChannels: number[];
  downBlockTypes: DownBlockType[];
  upBlockTypes: UpBlockType[];
  hasMidBlock: boolean;
  /** Resnets per down block; up block i has `layersPerBlock[reversed i] + 1`. */
  layersPerBlock: number[];
  /** Attention heads per down block (diffusers' `attention_head_dim`); the mid block uses the last. */
  heads: number[];
  crossAttentionDim: number[];
  /** Transformer depth per down block and layer. */
  downDepth: number[][];
  /** Transformer depth per up block and layer. */
  upDepth: number[][];
  midDepth: number;
  normGroups: number;
  normEps: number;
  flipSinToCos: boolean;
  freqShift: number;
  timeEmbedDim: number;
  useLinearProjection: boolean;
  upcastAttention: boolean;
  downsamplePadding: number;
  midBlockScaleFactor: number;
  convInKernel: number;
  convOutKernel: number;
  /** SDXL's `text_time` added conditioning. */
  textTime?: { timeEmbedDim: number; projectionInputDim: number };
}

export class UNetConfigError extends Error {
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'UNetConfigError';
  }
}

type Json = Record<string, unknown>;

export function parseUNetConfig(raw: unknown, file = 'unet/config.json'): UNetConfig {
  const fail = (msg: string): never => {
    throw new UNetConfigError(file, msg);
  };
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) fail('is not a JSON object');
  const c = raw as Json;
  if (c._class_name !== undefined && c._class_name !== 'UNet2DConditionModel') {
    fail(`_class_name is "${String(c._class_name)}", not UNet2DConditionModel`);
  }
  const int = (key: string, dflt?: number): number => {
    const v = c[key] ?? dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) return fail(`"${key}" must be a non-negative integer (got ${JSON.stringify(v)})`);
    return v;
  };
  const num = (key: string, dflt: number): number => {
    const v = c[key] ?? dflt;
    if (typeof v !== 'number' || !Number.isFinite(v)) return fail(`"${key}" must be a number (got ${JSON.stringify(v)})`);
    return v;
  };
  const bool = (key: string, dflt: boolean): boolean => {
    const v = c[key] ?? dflt;
    if (typeof v !== 'boolean') return fail(`"${key}" must be true or false (got ${JSON.stringify(v)})`);
    return v;
  };
  const strings = (key: string): string[] => {
    const v = c[key];
    if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) return fail(`"${key}" must be a list of block type names`);
    return v as string[];
  };
  const perBlock = (key: string, n: number, dflt?: number): number[] => {
    const v = c[key] ?? dflt;
    if (typeof v === 'number' && Number.isInteger(v) && v > 0) return Array(n).fill(v);
    if (Array.isArray(v) && v.length === n && v.every((x) => typeof x === 'number' && Number.isInteger(x) && x > 0)) return v as number[];
    return fail(`"${key}" must be a positive integer or a list of ${n} (got ${JSON.stringify(v)})`);
  };
  const unsupported = (key: string, ok: (v: unknown) => boolean, what: string) => {
    if (!ok(c[key])) fail(`"${key}" = ${JSON.stringify(c[key])} is not supported (${what})`);
  };
  const isNullish = (v: unknown) => v === undefined || v === null;

  unsupported('class_embed_type', isNullish, 'class-conditioned UNets are not built');
  unsupported('encoder_hid_dim_type', isNullish, 'encoder hidden-state projections are not built');
  unsupported('encoder_hid_dim', isNullish, 'encoder hidden-state projections are not built');
  unsupported('time_cond_proj_dim', isNullish, 'guidance-embedding (LCM-style) UNets are not built');
  unsupported('time_embedding_type', (v) => isNullish(v) || v === 'positional', 'only positional timestep embeddings');
  unsupported('time_embedding_act_fn', isNullish, 'no activation after the time embedding is built');
  unsupported('timestep_post_act', isNullish, 'no activation inside the time embedding is built');
  unsupported('resnet_time_scale_shift', (v) => isNullish(v) || v === 'default', 'only additive time conditioning');
  unsupported('resnet_skip_time_act', (v) => isNullish(v) || v === false, 'the time activation is always applied');
  unsupported('resnet_out_scale_factor', (v) => isNullish(v) || v === 1, 'resnet outputs are not rescaled');
  unsupported('act_fn', (v) => isNullish(v) || v === 'silu', 'only SiLU');
  unsupported('attention_type', (v) => isNullish(v) || v === 'default', 'only plain transformer blocks');
  unsupported('cross_attention_norm', isNullish, 'no cross-attention norm is built');
  unsupported('dual_cross_attention', (v) => isNullish(v) || v === false, 'dual cross-attention is not built');
  unsupported('only_cross_attention', (v) => isNullish(v) || v === false, 'self-attention is required');
  unsupported('class_embeddings_concat', (v) => isNullish(v) || v === false, 'no class embeddings');
  unsupported('num_attention_heads', isNullish, 'diffusers itself refuses it; use attention_head_dim');
  unsupported('center_input_sample', (v) => isNullish(v) || v === false, 'inputs are not re-centred');
  unsupported('addition_embed_type', (v) => isNullish(v) || v === 'text_time', 'only SDXL\'s "text_time"');

  const blockOutChannels = c.block_out_channels;
  if (!Array.isArray(blockOutChannels) || blockOutChannels.length === 0 || !blockOutChannels.every((x) => Number.isInteger(x) && x > 0)) {
    fail('"block_out_channels" must be a non-empty list of positive integers');
  }
  const channels = blockOutChannels as number[];
  const n = channels.length;
  const down = strings('down_block_types');
  const up = strings('up_block_types');
  if (down.length !== n || up.length !== n) fail(`${n} block_out_channels but ${down.length} down and ${up.length} up block types`);
  for (const t of down) if (t !== 'CrossAttnDownBlock2D' && t !== 'DownBlock2D') fail(`down block type "${t}" is not supported`);
  for (const t of up) if (t !== 'CrossAttnUpBlock2D' && t !== 'UpBlock2D') fail(`up block type "${t}" is not supported`);
  const mid = c.mid_block_type ?? 'UNetMidBlock2DCrossAttn';
  if (mid !== 'UNetMidBlock2DCrossAttn' && mid !== null) fail(`mid block type "${String(mid)}" is not supported`);

  const layersPerBlock = perBlock('layers_per_block', n, 2);
  const depthPerBlock = (v: unknown, i: number, layers: number, what: string): number[] => {
    if (typeof v === 'number' && Number.isInteger(v) && v > 0) return Array(layers).fill(v);
    if (Array.isArray(v) && v.length === layers && v.every((x) => Number.isInteger(x) && x > 0)) return v as number[];
    return fail(`${what} for block ${i} must be a positive integer or a list of ${layers} (got ${JSON.stringify(v)})`);
  };
  const tlpb = c.transformer_layers_per_block ?? 1;
  const downDepthRaw: unknown[] = Array.isArray(tlpb) ? tlpb : Array(n).fill(tlpb);
  if (downDepthRaw.length !== n) fail(`"transformer_layers_per_block" must have ${n} entries`);
  const downDepth = downDepthRaw.map((v, i) => depthPerBlock(v, i, layersPerBlock[i], '"transformer_layers_per_block"'));
  const reverse = c.reverse_transformer_layers_per_block;
  const upLayers = [...layersPerBlock].reverse().map((l) => l + 1);
  const upDepth = isNullish(reverse)
    ? [...downDepthRaw].reverse().map((v, i) => depthPerBlock(v, i, upLayers[i], '"transformer_layers_per_block"'))
    : Array.isArray(reverse) && reverse.length === n
      ? reverse.map((v, i) => depthPerBlock(v, i, upLayers[i], '"reverse_transformer_layers_per_block"'))
      : fail(`"reverse_transformer_layers_per_block" must have ${n} entries`);
  const lastDepth = downDepthRaw[n - 1];
  const midDepth = typeof lastDepth === 'number' ? lastDepth : fail('the mid block needs an integer "transformer_layers_per_block" entry for the last block');

  const addition = c.addition_embed_type === 'text_time'
    ? { timeEmbedDim: int('addition_time_embed_dim'), projectionInputDim: int('projection_class_embeddings_input_dim') }
    : undefined;
  const timeEmbedDim = isNullish(c.time_embedding_dim) ? channels[0] * 4 : int('time_embedding_dim');

  const cfg: UNetConfig = {
    inChannels: int('in_channels', 4),
    outChannels: int('out_channels', 4),
    blockOutChannels: channels,
    downBlockTypes: down as DownBlockType[],
    upBlockTypes: up as UpBlockType[],
    hasMidBlock: mid !== null,
    layersPerBlock,
    heads: perBlock('attention_head_dim', n, 8),
    crossAttentionDim: perBlock('cross_attention_dim', n, 1280),
    downDepth,
    upDepth,
    midDepth,
    normGroups: int('norm_num_groups', 32),
    normEps: num('norm_eps', 1e-5),
    flipSinToCos: bool('flip_sin_to_cos', true),
    freqShift: num('freq_shift', 0),
    timeEmbedDim,
    useLinearProjection: bool('use_linear_projection', false),
    upcastAttention: bool('upcast_attention', false),
    downsamplePadding: int('downsample_padding', 1),
    midBlockScaleFactor: num('mid_block_scale_factor', 1),
    convInKernel: int('conv_in_kernel', 3),
    convOutKernel: int('conv_out_kernel', 3),
    textTime: addition,
  };
  channels.forEach((ch, i) => {
    if (ch % cfg.normGroups !== 0) fail(`block ${i} has ${ch} channels, not divisible into ${cfg.normGroups} groups`);
    if (ch % cfg.heads[i] !== 0) fail(`block ${i} has ${ch} channels, not divisible by ${cfg.heads[i]} attention heads`);
  });
  return cfg;
}

/** Up block i's heads and cross-attention width read the per-block lists reversed, as diffusers does. */
export const upIndex = (cfg: UNetConfig, i: number): number => cfg.blockOutChannels.length - 1 - i;
