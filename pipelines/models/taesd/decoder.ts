// TAESD's decoder (the tiny autoencoder for live previews): tanh clamp of the latents, a 3×3 conv and ReLU,
// then stages of residual blocks (conv-ReLU-conv-ReLU-conv plus the input, ReLU) separated by nearest ×2
// upsampling and a bias-free conv, and a last conv to RGB in [0, 1]. The layer list is read from the
// tensor names, so the original files (`1.weight`, `3.conv.0.weight`, …) and diffusers' AutoencoderTiny
// (`decoder.layers.0.weight`, …) both build, whatever the stage count and width.
import { Graph, type T } from '../../onnx/graph.ts';
import * as op from '../../onnx/ops.ts';
import { CheckpointShapeError, Weights, type TensorSource } from '../../onnx/weights.ts';

type Layer = { kind: 'conv-in' | 'block' | 'upsample-conv' | 'conv-out'; index: number };

export interface TaesdLayout {
  /** Prefix of the layer indices ('' or 'decoder.layers'). */
  prefix: string;
  latentChannels: number;
  layers: Layer[];
  /** Image pixels per latent pixel (2^upsamplings). */
  scale: number;
}

/** The decoder's layers from a file's tensor names; a clear error when the file is no TAESD decoder. */
export function taesdLayout(source: TensorSource & { keys(): string[] }): TaesdLayout {
  const keys = source.keys();
  const prefix = keys.some((k) => k.startsWith('decoder.layers.')) ? 'decoder.layers' : '';
  const indexed = new Map<number, string[]>();
  for (const k of keys) {
    const m = (prefix ? new RegExp(`^${prefix.replace('.', '\\.')}\\.(\\d+)\\.(.+)$`) : /^(\d+)\.(.+)$/).exec(k);
    if (m) indexed.set(Number(m[1]), [...(indexed.get(Number(m[1])) ?? []), m[2]]);
  }
  const refuse = (why: string) => new CheckpointShapeError(source.path, prefix || '0', `${why}: not a TAESD decoder (expected taesd_decoder / taesdxl_decoder / taesd3_decoder .safetensors or .pth, or a diffusers AutoencoderTiny)`);
  if (!indexed.size) throw refuse('no numbered layers');
  const name = (i: number, rest: string) => (prefix ? `${prefix}.${i}.${rest}` : `${i}.${rest}`);
  const layers: Layer[] = [];
  let latentChannels = 0;
  for (const index of [...indexed.keys()].sort((a, b) => a - b)) {
    const params = indexed.get(index)!;
    if (params.includes('conv.0.weight')) layers.push({ kind: 'block', index });
    else if (params.includes('weight')) {
      const hasBias = params.includes('bias');
      if (!layers.length) {
        latentChannels = source.info(name(index, 'weight')).shape[1];
        layers.push({ kind: 'conv-in', index });
      } else layers.push({ kind: hasBias ? 'conv-out' : 'upsample-conv', index });
    } else throw refuse(`layer ${index} has parameters ${params.join(', ')}`);
  }
  if (layers.at(-1)?.kind !== 'conv-out' || layers.filter((l) => l.kind === 'conv-out').length !== 1) throw refuse('no single last conv with a bias');
  const outChannels = source.info(name(layers.at(-1)!.index, 'weight')).shape[0];
  if (outChannels !== 3) throw refuse(`the last conv has ${outChannels} output channels, not 3`);
  return { prefix, latentChannels, layers, scale: 2 ** layers.filter((l) => l.kind === 'upsample-conv').length };
}

const conv = (w: Weights, x: T) => op.conv2d(x, w.get('weight'), w.optional('bias'), { padding: w.shapeOf('weight')[2] === 3 ? 1 : 0 });

function block(w: Weights, x: T): T {
  const c = w.sub('conv');
  let h = op.relu(conv(c.sub('0'), x));
  h = op.relu(conv(c.sub('2'), h));
  h = conv(c.sub('4'), h);
  const skip = w.has('skip.weight') ? conv(w.sub('skip'), x) : x;
  return op.relu(op.add(h, skip));
}

/** `latents` [1, C, h, w] (the latents the denoiser sees) → `image` [1, 3, scale·h, scale·w] in [0, 1] (clamped). */
export function buildTaesdDecoderGraph(source: TensorSource & { keys(): string[] }, height: number, width: number): Graph {
  const layout = taesdLayout(source);
  const g = new Graph('taesd-decoder');
  const root = new Weights(g, source, 'float32', layout.prefix);
  const latents = g.input('latents', 'float32', [1, layout.latentChannels, height, width]);
  let x = op.mul(op.tanh(op.div(latents, 3)), 3);
  for (const layer of layout.layers) {
    const w = root.sub(String(layer.index));
    if (layer.kind === 'conv-in') x = op.relu(conv(w, x));
    else if (layer.kind === 'block') x = block(w, x);
    else if (layer.kind === 'upsample-conv') x = conv(w, op.upsampleNearest(x, 2));
    else x = conv(w, x);
  }
  g.output(op.clip(x, 0, 1), 'image');
  return g;
}
