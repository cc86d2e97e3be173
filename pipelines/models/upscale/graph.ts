// The upscaler networks as graphs: `image` [1, 3, H, W] in [0, 1] → `upscaled` [1, 3, s·H, s·W] (not clamped).
// RRDBNet (ESRGAN): first conv → residual-in-residual dense blocks → trunk conv + skip → nearest ×2 and a
// conv with LeakyReLU per upsampling → HR conv → last conv; Real-ESRGAN's ×2/×1 models pixel-unshuffle first.
// SRVGG (Real-ESRGAN compact): 3×3 convs with PReLU, the last to 3·s² channels, pixel shuffle, plus the
// nearest-upsampled input. SwinIR: ./swinir.ts.
import { Graph, type T } from '../../onnx/graph.ts';
import * as op from '../../onnx/ops.ts';
import { Weights } from '../../onnx/weights.ts';
import type { RrdbArchitecture, SrvggArchitecture, UpscalerWeights } from './detect.ts';
import { conv3, lrelu, pixelShuffle, pixelUnshuffle } from './layers.ts';
import { swinir } from './swinir.ts';

/** Five convs over the growing concatenation, LeakyReLU after the first four, scaled by 0.2 onto the input. */
function denseBlock(w: Weights, x: T): T {
  const feats = [x];
  for (let i = 1; i <= 4; i++) feats.push(lrelu(conv3(w.sub(`conv${i}`), op.concat(feats, 1))));
  return op.add(x, op.mul(conv3(w.sub('conv5'), op.concat(feats, 1)), 0.2));
}

function rrdb(w: Weights, x: T): T {
  const y = denseBlock(w.sub('rdb3'), denseBlock(w.sub('rdb2'), denseBlock(w.sub('rdb1'), x)));
  return op.add(x, op.mul(y, 0.2));
}

function rrdbNet(w: Weights, a: RrdbArchitecture, image: T, height: number, width: number): T {
  let x = a.unshuffle > 1 ? pixelUnshuffle(image, a.unshuffle, 3, height, width) : image;
  const feat = conv3(w.sub('conv_first'), x);
  let body = feat;
  for (let i = 0; i < a.blocks; i++) body = rrdb(w.sub(`body.${i}`), body);
  x = op.add(feat, conv3(w.sub('conv_body'), body));
  for (let i = 1; i <= a.upsamplings; i++) x = lrelu(conv3(w.sub(`conv_up${i}`), op.upsampleNearest(x, 2)));
  return conv3(w.sub('conv_last'), lrelu(conv3(w.sub('conv_hr'), x)));
}

function prelu(w: Weights, x: T, channels: number): T {
  const slope = op.reshape(w.get('weight', [channels]), [1, channels, 1, 1]);
  const positive = op.relu(x);
  return op.add(positive, op.mul(slope, op.sub(x, positive)));
}

function srvgg(w: Weights, a: SrvggArchitecture, image: T, height: number, width: number): T {
  let x = prelu(w.sub('body.1'), conv3(w.sub('body.0'), image), a.features);
  for (let i = 1; i <= a.convs; i++) x = prelu(w.sub(`body.${2 * i + 1}`), conv3(w.sub(`body.${2 * i}`), x), a.features);
  const out = pixelShuffle(conv3(w.sub(`body.${2 * a.convs + 2}`), x), a.scale, 3, height, width);
  return op.add(out, op.upsampleNearest(image, a.scale));
}

/** The upscaler's graph for one input size (height and width divisible by the RRDBNet's unshuffle factor). */
export function buildUpscalerGraph(u: UpscalerWeights, height: number, width: number): Graph {
  const g = new Graph(`upscaler-${u.architecture.kind}`);
  const w = new Weights(g, u.weights, 'float32');
  const image = g.input('image', 'float32', [1, 3, height, width]);
  const a = u.architecture;
  const out = a.kind === 'rrdb' ? rrdbNet(w, a, image, height, width) : a.kind === 'srvgg' ? srvgg(w, a, image, height, width) : swinir(w, a, image, height, width);
  g.output(out, 'upscaled');
  return g;
}
