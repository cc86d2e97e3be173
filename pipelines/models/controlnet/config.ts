// A diffusers `ControlNetModel` config.json: the UNet's encoder half (read by ../unet/config.ts, so both
// agree on every block) plus the conditioning image's encoder.
import { parseUNetConfig, UNetConfigError, type UNetConfig } from '../unet/config.ts';

export interface ControlNetConfig {
  /** The encoder half as a UNet config (its up blocks mirror the down blocks and are never built). */
  unet: UNetConfig;
  /** Channels of the control image (3: RGB). */
  conditioningChannels: number;
  /** The conditioning embedding's conv widths; each step after the first halves the size. */
  embeddingChannels: number[];
  /** Checkpoints trained on BGR images get the channels flipped. */
  bgr: boolean;
}

type Json = Record<string, unknown>;

const UP_FOR_DOWN: Record<string, string> = { CrossAttnDownBlock2D: 'CrossAttnUpBlock2D', DownBlock2D: 'UpBlock2D' };

export function parseControlNetConfig(raw: unknown, file = 'controlnet/config.json'): ControlNetConfig {
  const fail = (msg: string): never => {
    throw new UNetConfigError(file, msg);
  };
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return fail('is not a JSON object');
  const c = raw as Json;
  if (c._class_name !== undefined && c._class_name !== 'ControlNetModel') fail(`_class_name is "${String(c._class_name)}", not ControlNetModel`);
  if (c.global_pool_conditions === true) fail('"global_pool_conditions" = true (shuffle-style ControlNets) is not supported');
  const order = c.controlnet_conditioning_channel_order ?? 'rgb';
  if (order !== 'rgb' && order !== 'bgr') fail(`"controlnet_conditioning_channel_order" must be "rgb" or "bgr" (got ${JSON.stringify(order)})`);
  const down = Array.isArray(c.down_block_types) ? (c.down_block_types as unknown[]) : fail('"down_block_types" must be a list of block type names');
  const up = down.map((t) => UP_FOR_DOWN[String(t)] ?? String(t)).reverse();
  const { _class_name, conditioning_embedding_out_channels, conditioning_channels, global_pool_conditions, controlnet_conditioning_channel_order, addition_embed_type_num_heads, ...unetFields } = c;
  void _class_name; void global_pool_conditions; void controlnet_conditioning_channel_order; void addition_embed_type_num_heads;
  const unet = parseUNetConfig({ ...unetFields, up_block_types: up, out_channels: c.in_channels ?? 4 }, file);
  const embedding = conditioning_embedding_out_channels ?? [16, 32, 96, 256];
  if (!Array.isArray(embedding) || embedding.length < 1 || !embedding.every((x) => Number.isInteger(x) && x > 0)) {
    fail(`"conditioning_embedding_out_channels" must be a list of positive integers (got ${JSON.stringify(embedding)})`);
  }
  const channels = conditioning_channels ?? 3;
  if (!Number.isInteger(channels) || (channels as number) < 1) fail(`"conditioning_channels" must be a positive integer (got ${JSON.stringify(channels)})`);
  return { unet, conditioningChannels: channels as number, embeddingChannels: embedding as number[], bgr: order === 'bgr' };
}

/** How many times the conditioning embedding halves the control image: the VAE's factor (8) for every released ControlNet. */
export const conditioningScale = (cfg: ControlNetConfig): number => 2 ** (cfg.embeddingChannels.length - 1);
