// emoji-vae: the 64² ↔ 16²×4 latent autoencoder (training/ARCHITECTURE.md § emoji-vae). Latents
// in and out of these graphs are the normalised ones the denoisers see.
import { Graph, type DType, type T } from '../../onnx/graph.ts';
import { conv2d, groupNorm } from '../../onnx/nn.ts';
import * as op from '../../onnx/ops.ts';
import { Weights, type TensorSource } from '../../onnx/weights.ts';
import type { EmojiVaeConfig } from './config.ts';

export interface EmojiVaeGraphOptions {
  /** Static batch size; symbolic (any batch) when left out. */
  batch?: number;
  /** Compute dtype; inputs and outputs stay float32 either way. */
  dtype?: DType;
}

const norm = (w: Weights, x: T, c: EmojiVaeConfig) => groupNorm(w, x, c.group_norm_groups, c.group_norm_eps);
const conv3 = (w: Weights, x: T, stride = 1) => conv2d(w, x, { padding: 1, stride });

function resBlock(w: Weights, x: T, c: EmojiVaeConfig): T {
  const h = conv3(w.sub('conv1'), op.silu(norm(w.sub('norm1'), x, c)));
  return op.add(x, conv3(w.sub('conv2'), op.silu(norm(w.sub('norm2'), h, c))));
}

/** The per-channel [4] latent statistics as [1, C, 1, 1]. */
const perChannel = (w: Weights, name: string, c: EmojiVaeConfig) => op.reshape(w.get(name, [c.latent_channels]), [1, c.latent_channels, 1, 1]);

function graphIO(name: string, source: TensorSource, o: EmojiVaeGraphOptions) {
  const g = new Graph(name);
  return { g, w: new Weights(g, source, o.dtype ?? 'float32'), batch: o.batch ?? 'batch' };
}

/** `image` [B, 3, 64, 64] in [−1, 1] → `encoded` [B, 4, 16, 16]: the latent mean, normalised. */
export function buildEmojiVaeEncoderGraph(source: TensorSource, c: EmojiVaeConfig, o: EmojiVaeGraphOptions = {}): Graph {
  const { g, w, batch } = graphIO('emoji-vae-encoder', source, o);
  const image = g.input('image', 'float32', [batch, c.image_channels, c.image_size, c.image_size]);
  const e = w.sub('encoder');
  let h = resBlock(e.sub('res0'), conv3(e.sub('conv_in'), op.cast(image, w.dtype)), c);
  h = resBlock(e.sub('res1'), conv3(e.sub('down0'), h, 2), c);
  h = resBlock(e.sub('res2'), conv3(e.sub('down1'), h, 2), c);
  const moments = conv3(e.sub('conv_out'), op.silu(norm(e.sub('norm_out'), h, c)));
  const mean = op.slice(moments, [1], [0], [c.latent_channels]);
  const z = op.div(op.sub(mean, perChannel(w, 'latent_shift', c)), perChannel(w, 'latent_scale', c));
  g.output(op.cast(z, 'float32'), 'encoded');
  return g;
}

/** `z` [B, 4, 16, 16] → `decoded` [B, 3, 64, 64], before the clamp to [−1, 1]. */
export function buildEmojiVaeDecoderGraph(source: TensorSource, c: EmojiVaeConfig, o: EmojiVaeGraphOptions = {}): Graph {
  const { g, w, batch } = graphIO('emoji-vae-decoder', source, o);
  const z = g.input('z', 'float32', [batch, c.latent_channels, c.latent_size, c.latent_size]);
  const d = w.sub('decoder');
  let h = op.add(op.mul(op.cast(z, w.dtype), perChannel(w, 'latent_scale', c)), perChannel(w, 'latent_shift', c));
  h = conv3(d.sub('conv_in'), h);
  for (let i = 0; i < c.decoder_blocks_at_16; i++) h = resBlock(d.sub(`mid.${i}`), h, c);
  h = resBlock(d.sub('res1'), conv3(d.sub('up0'), op.upsampleNearest(h, 2)), c);
  h = resBlock(d.sub('res2'), conv3(d.sub('up1'), op.upsampleNearest(h, 2)), c);
  const x = conv3(d.sub('conv_out'), op.silu(norm(d.sub('norm_out'), h, c)));
  g.output(op.cast(x, 'float32'), 'decoded');
  return g;
}
