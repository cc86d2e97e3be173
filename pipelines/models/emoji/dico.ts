// emoji-DiCo (training/emoji/dico.py): DiCo blocks in a 3-level U on the 16×16×4 latent; the text enters
// through adaLN only, c = t_embedder(t) + text_pool_proj(pooled). The graph declares the same five inputs
// as the emoji DiT/LiT (text_tokens and text_mask unused) so the recipe feeds every denoiser alike.
import { Graph, GraphError, type DType, type T } from '../../onnx/graph.ts';
import * as op from '../../onnx/ops.ts';
import { Weights, type TensorSource } from '../../onnx/weights.ts';
import type { EmojiDicoConfig } from './config.ts';
import { emojiCondition } from './conditioning.ts';

export interface EmojiDiCoOptions {
  batch: number;
  /** Compute dtype inside the graph; inputs and output stay float32. */
  dtype?: 'float32' | 'float16';
}

const TEXT_LENGTH = 24;
const STAGES = ['encoder_level_1', 'encoder_level_2', 'latent', 'decoder_level_2', 'decoder_level_1'] as const;

export function buildEmojiDiCo(source: TensorSource, cfg: EmojiDicoConfig, o: EmojiDiCoOptions): Graph {
  if (!Number.isInteger(o.batch) || o.batch < 1) throw new GraphError(`emoji-dico: batch must be a positive integer (got ${o.batch})`);
  const dtype: DType = o.dtype ?? 'float32';
  const b = o.batch;
  const size = cfg.latent_size;
  if (size % 4) throw new GraphError(`emoji-dico: latent_size ${size} must be divisible by 4 (two 2× downsamples)`);
  const g = new Graph('emoji-dico');
  const x = g.input('x', 'float32', [b, cfg.in_channels, size, size]);
  const t = g.input('t', 'float32', [b]);
  g.input('text_tokens', 'float32', [b, TEXT_LENGTH, cfg.text_dim]);
  g.input('text_mask', 'float32', [b, TEXT_LENGTH]);
  const pooled = g.input('text_pooled', 'float32', [b, cfg.text_dim]);
  const w = new Weights(g, source, dtype);
  g.output(op.cast(dicoForward(w, cfg, op.cast(x, dtype), t, pooled), 'float32'), 'out');
  return g;
}

function dicoForward(w: Weights, cfg: EmojiDicoConfig, x: T, t: T, pooled: T): T {
  const [w1, w2, w3] = cfg.level_mult.map((m) => cfg.channels * m);
  const eps = cfg.layer_norm_eps;
  const c = emojiCondition(w, t, pooled, cfg.freq_dim);
  const siluC = op.silu(c);
  const stage = (i: number, h: T) => {
    for (let k = 0; k < cfg.depths[i]; k++) h = dicoBlock(w.sub(`${STAGES[i]}.blocks.${k}`), h, siluC, cfg);
    return h;
  };

  const e1 = stage(0, conv(w.sub('x_embedder.proj'), x, w1, 3));
  const e2 = stage(1, conv(w.sub('down1_2.conv'), e1, w2, 2, { stride: 2 }));
  let h = stage(2, conv(w.sub('down2_3.conv'), e2, w3, 2, { stride: 2 }));
  h = conv(w.sub('reduce_chan_level2'), op.concat([conv(w.sub('up3_2.conv'), op.upsampleNearest(h, 2), w2, 3), e2], 1), w2, 1);
  h = stage(3, h);
  h = conv(w.sub('reduce_chan_level1'), op.concat([conv(w.sub('up2_1.conv'), op.upsampleNearest(h, 2), w1, 3), e1], 1), w1, 1);
  h = stage(4, h);
  const [shift, scale] = adaLN(w.sub('final_layer'), siluC, 2, w1);
  return conv(w.sub('final_layer.out_proj'), modulate(channelLayerNorm(h, eps), shift, scale), cfg.in_channels, 3);
}

/** One DiCo block: conv module with compact channel attention, then a 1×1-conv FFN, both adaLN-gated. */
function dicoBlock(w: Weights, inp: T, siluC: T, cfg: EmojiDicoConfig): T {
  return inp.graph.scope(w.prefix, () => {
    const width = inp.dim(1);
    const eps = cfg.layer_norm_eps;
    const [shift1, scale1, gate1, shift2, scale2, gate2] = adaLN(w, siluC, 6, width);
    let x = modulate(channelLayerNorm(inp, eps), shift1, scale1);
    x = op.gelu(conv(w.sub('conv2'), conv(w.sub('conv1'), x, width, 1), width, 3, { groups: width }), 'tanh');
    x = op.mul(x, op.sigmoid(conv(w.sub('ca.1'), op.globalAvgPool(x), width, 1)));
    const h = op.add(inp, op.mul(gate1, conv(w.sub('conv3'), x, width, 1)));
    const y = modulate(channelLayerNorm(h, eps), shift2, scale2);
    const ffn = conv(w.sub('conv5'), op.gelu(conv(w.sub('conv4'), y, cfg.mlp_ratio * width, 1), 'tanh'), width, 1);
    return op.add(h, op.mul(gate2, ffn));
  });
}

/** A shape-checked PyTorch Conv2d with bias; `same` padding for odd kernels, none for the 2×2 downsamples. */
function conv(w: Weights, x: T, out: number, kernel: number, o: { stride?: number; groups?: number } = {}): T {
  const groups = o.groups ?? 1;
  const weight = w.get('weight', [out, x.dim(1) / groups, kernel, kernel]);
  return op.conv2d(x, weight, w.get('bias', [out]), { stride: o.stride, groups, padding: kernel % 2 ? (kernel - 1) / 2 : 0 });
}

/** adaLN_modulation.1(silu(c)) cut into n consecutive [B, width, 1, 1] parts. */
function adaLN(w: Weights, siluC: T, n: number, width: number): T[] {
  const lin = w.sub('adaLN_modulation.1');
  const mods = op.add(op.matmul(siluC, lin.linear('weight', n * width, siluC.dim(-1))), lin.get('bias', [n * width]));
  return op.chunk(mods, n, 1).map((m) => op.reshape(m, [siluC.dim(0), width, 1, 1]));
}

const modulate = (x: T, shift: T, scale: T): T => op.add(op.mul(x, op.add(scale, 1)), shift);

/** LayerNorm over the channel axis at every pixel, no affine. */
function channelLayerNorm(x: T, eps: number): T {
  const nhwc = op.transpose(x, [0, 2, 3, 1]);
  return op.transpose(op.layerNorm(nhwc, undefined, undefined, eps), [0, 3, 1, 2]);
}
