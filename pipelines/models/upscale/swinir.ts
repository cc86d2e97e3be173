// SwinIR (Liang et al. 2021) for super-resolution, in its released state-dict layout: conv_first → residual
// Swin transformer blocks (`layers.N`: Swin blocks `residual_group.blocks.M`, then a conv and the block's
// input added) → `norm` → conv_after_body + skip → the upsampler. A Swin block attends within ws×ws windows
// with a learned relative position bias; every second block shifts the windows by half a window, masking
// (−100) pairs of pixels that the shift brought together from opposite borders. The image is shifted by the
// training data's mean and reflect-padded to a multiple of the window; the output is cropped back.
import type { T } from '../../onnx/graph.ts';
import * as nn from '../../onnx/nn.ts';
import * as op from '../../onnx/ops.ts';
import type { Weights } from '../../onnx/weights.ts';
import type { SwinirArchitecture } from './detect.ts';
import { conv3, lrelu, pixelShuffle } from './layers.ts';

const MEAN = [0.4488, 0.4371, 0.4040];
const MASKED = -100;
const EPS = 1e-5;

interface Grid {
  height: number;
  width: number;
  channels: number;
  window: number;
}

/** [1, H, W, C] → [windows, ws·ws, C], windows and their pixels in row-major order. */
function toWindows(x: T, g: Grid): T {
  const { height: h, width: w, channels: c, window: s } = g;
  const blocks = op.reshape(x, [1, h / s, s, w / s, s, c]);
  return op.reshape(op.transpose(blocks, [0, 1, 3, 2, 4, 5]), [(h / s) * (w / s), s * s, c]);
}

function fromWindows(x: T, g: Grid): T {
  const { height: h, width: w, channels: c, window: s } = g;
  const blocks = op.reshape(x, [1, h / s, w / s, s, s, c]);
  return op.reshape(op.transpose(blocks, [0, 1, 3, 2, 4, 5]), [1, h, w, c]);
}

/** torch.roll by `by` pixels along H and W of [1, H, W, C]. */
function roll(x: T, by: number, g: Grid): T {
  let y = x;
  for (const [axis, size] of [[1, g.height], [2, g.width]]) {
    const cut = ((-by % size) + size) % size;
    y = op.concat([op.slice(y, [axis], [cut], [size]), op.slice(y, [axis], [0], [cut])], axis);
  }
  return y;
}

/** Per window pair of pixels: the relative position's row in the bias table ((2ws−1)² rows). */
function relativeIndex(s: number): BigInt64Array {
  const n = s * s;
  const out = new BigInt64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const dy = Math.floor(i / s) - Math.floor(j / s) + s - 1;
      const dx = (i % s) - (j % s) + s - 1;
      out[i * n + j] = BigInt(dy * (2 * s - 1) + dx);
    }
  }
  return out;
}

/** [windows, 1, N, N]: −100 between pixels of different regions of the shifted image, else 0. */
function shiftMask(g: Grid, shift: number): Float32Array {
  const { height: h, width: w, window: s } = g;
  const region = (v: number, size: number) => (v < size - s ? 0 : v < size - shift ? 1 : 2);
  const n = s * s;
  const cols = w / s;
  const count = (h / s) * cols;
  const out = new Float32Array(count * n * n);
  for (let win = 0; win < count; win++) {
    const label = (p: number) => 3 * region(Math.floor(win / cols) * s + Math.floor(p / s), h) + region((win % cols) * s + (p % s), w);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[(win * n + i) * n + j] = label(i) === label(j) ? 0 : MASKED;
  }
  return out;
}

/** The constants every block of one graph shares: the bias table's index and the shifted blocks' mask. */
interface WindowConstants {
  index: T;
  mask: T;
}

function windowConstants(like: T, g: Grid): WindowConstants {
  const n = g.window * g.window;
  const windows = (g.height / g.window) * (g.width / g.window);
  return {
    index: like.graph.constant('int64', [n * n], relativeIndex(g.window), 'swin_relative_index'),
    mask: like.graph.constant('float32', [windows, 1, n, n], shiftMask(g, Math.floor(g.window / 2)), 'swin_shift_mask'),
  };
}

function swinBlock(w: Weights, x: T, heads: number, shift: number, g: Grid, c: WindowConstants): T {
  const n = g.window * g.window;
  let y = op.reshape(nn.layerNorm(w.sub('norm1'), x, EPS), [1, g.height, g.width, g.channels]);
  if (shift) y = roll(y, -shift, g);
  const windows = toWindows(y, g);
  const [q, k, v] = op.split(nn.linear(w.sub('attn.qkv'), windows, 3 * g.channels), -1, [g.channels, g.channels, g.channels]);
  const table = w.get('attn.relative_position_bias_table', [(2 * g.window - 1) ** 2, heads]);
  let bias = op.unsqueeze(op.transpose(op.reshape(op.gather(table, c.index), [n, n, heads]), [2, 0, 1]), [0]);
  if (shift) bias = op.add(bias, c.mask);
  const attended = nn.linear(w.sub('attn.proj'), op.multiHeadAttention(q, k, v, heads, { attentionBias: bias }), g.channels);
  y = fromWindows(attended, g);
  if (shift) y = roll(y, shift, g);
  x = op.add(x, op.reshape(y, [1, g.height * g.width, g.channels]));
  const hidden = op.gelu(nn.linear(w.sub('mlp.fc1'), nn.layerNorm(w.sub('norm2'), x, EPS)));
  return op.add(x, nn.linear(w.sub('mlp.fc2'), hidden, g.channels));
}

const toImage = (t: T, g: Grid) => op.reshape(op.transpose(t, [0, 2, 1]), [1, g.channels, g.height, g.width]);
const toTokens = (x: T, g: Grid) => op.transpose(op.reshape(x, [1, g.channels, g.height * g.width]), [0, 2, 1]);

/** The RSTB's closing conv: one 3×3 ('1conv'), or 3×3 to C/4, 1×1, 3×3 back with LeakyReLUs ('3conv'). */
function residualConv(w: Weights, x: T, a: SwinirArchitecture): T {
  if (a.residualConv === '1conv') return conv3(w, x);
  const mid = lrelu(op.conv2d(lrelu(conv3(w.sub('0'), x)), w.get('2.weight'), w.get('2.bias')));
  return conv3(w.sub('4'), mid);
}

function upsample(w: Weights, x: T, a: SwinirArchitecture, g: Grid): T {
  const f = a.features;
  x = op.leakyRelu(conv3(w.sub('conv_before_upsample.0'), x), 0.01);
  if (a.upsampler === 'nearest+conv') {
    x = lrelu(conv3(w.sub('conv_up1'), op.upsampleNearest(x, 2)));
    if (a.scale === 4) x = lrelu(conv3(w.sub('conv_up2'), op.upsampleNearest(x, 2)));
    return conv3(w.sub('conv_last'), lrelu(conv3(w.sub('conv_hr'), x)));
  }
  const [factor, steps] = a.scale === 3 ? [3, 1] : [2, Math.log2(a.scale)];
  let [h, wd] = [g.height, g.width];
  for (let i = 0; i < steps; i++, h *= factor, wd *= factor) x = pixelShuffle(conv3(w.sub(`upsample.${2 * i}`), x), factor, f, h, wd);
  return conv3(w.sub('conv_last'), x);
}

export function swinir(w: Weights, a: SwinirArchitecture, image: T, height: number, width: number): T {
  const s = a.window;
  const g: Grid = { height: Math.ceil(height / s) * s, width: Math.ceil(width / s) * s, channels: a.embedDim, window: s };
  const padded = g.height === height && g.width === width ? image : op.pad(image, [0, 0, 0, 0, 0, 0, g.height - height, g.width - width], 'reflect');
  const mean = op.floats(image, MEAN, [1, 3, 1, 1]);
  const first = conv3(w.sub('conv_first'), op.sub(padded, mean));
  const constants = windowConstants(first, g);
  let t = toTokens(first, g);
  if (a.patchNorm) t = nn.layerNorm(w.sub('patch_embed.norm'), t, EPS);
  a.layers.forEach((layer, i) => {
    const lw = w.sub(`layers.${i}`);
    let y = t;
    for (let m = 0; m < layer.depth; m++) y = swinBlock(lw.sub(`residual_group.blocks.${m}`), y, layer.heads, m % 2 ? Math.floor(s / 2) : 0, g, constants);
    t = op.add(t, toTokens(residualConv(lw.sub('conv'), toImage(y, g), a), g));
  });
  const body = toImage(nn.layerNorm(w.sub('norm'), t, EPS), g);
  const out = op.add(upsample(w, op.add(conv3(w.sub('conv_after_body'), body), first), a, g), mean);
  return op.slice(out, [2, 3], [0, 0], [height * a.scale, width * a.scale]);
}
