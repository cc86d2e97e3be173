// ΔW of one LoRA layer as graph operations on its tensors (external data from the LoRA file), in
// float32 and in the target weight's shape. merge.ts runs them, one target weight at a time, to write
// the merged weights; the model's own graphs never contain them.
import type { Graph, T } from '../onnx/graph.ts';
import { add, cast, div, matmul, mul, reduceSum, reshape, scalar, sqrt } from '../onnx/ops.ts';
import type { LoraLayer } from './layers.ts';
import { LoraFileError } from './layers.ts';

const f32 = (g: Graph, layer: LoraLayer, role: string): T => {
  const info = layer.tensors[role];
  if (!info) throw new LoraFileError(layer.key, `layer ${layer.key} has no ${role} tensor`);
  return cast(g.external(info), 'float32');
};

const dims = (layer: LoraLayer, role: string) => layer.tensors[role].shape;
const count = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** `a @ b` with both flattened to matrices: [rows, k] @ [k, rest]. */
function product(a: T, aShape: readonly number[], b: T, bShape: readonly number[]): T {
  return matmul(reshape(a, [aShape[0], count(aShape) / aShape[0]]), reshape(b, [bShape[0], count(bShape) / bShape[0]]));
}

/** kron(w1 [a, b], w2 [c, d, …k]) → [a·c, b·d, …k] flattened to [a·c, b·d·K]. */
function kron(w1: T, s1: readonly number[], w2: T, s2: readonly number[]): T {
  const [a, b] = s1;
  const [c, d] = s2;
  const k = count(s2.slice(2));
  const left = reshape(w1, [a, 1, b, 1, 1]);
  const right = reshape(w2, [1, c, 1, d, k]);
  return reshape(mul(left, right), [a * c, b * d * k]);
}

/** ΔW at weight 1 (alpha / rank included), reshaped to `target`. */
export function layerDelta(g: Graph, layer: LoraLayer, target: readonly number[], peftScale = 1): T {
  let delta: T;
  let rank: number | undefined;
  switch (layer.method) {
    case 'lora': {
      delta = product(f32(g, layer, 'up'), dims(layer, 'up'), f32(g, layer, 'down'), dims(layer, 'down'));
      rank = dims(layer, 'down')[0];
      break;
    }
    case 'loha': {
      const one = product(f32(g, layer, 'w1_a'), dims(layer, 'w1_a'), f32(g, layer, 'w1_b'), dims(layer, 'w1_b'));
      const two = product(f32(g, layer, 'w2_a'), dims(layer, 'w2_a'), f32(g, layer, 'w2_b'), dims(layer, 'w2_b'));
      delta = mul(one, two);
      rank = dims(layer, 'w1_b')[0];
      break;
    }
    case 'lokr': {
      const part = (n: 'w1' | 'w2'): { t: T; shape: number[] } => {
        if (layer.tensors[n]) return { t: f32(g, layer, n), shape: dims(layer, n) };
        const a = dims(layer, `${n}_a`);
        const b = dims(layer, `${n}_b`);
        rank = b[0];
        return { t: product(f32(g, layer, `${n}_a`), a, f32(g, layer, `${n}_b`), b), shape: [a[0], ...(b.length > 2 ? [b[1], ...b.slice(2)] : [b[1]])] };
      };
      const w1 = part('w1');
      const w2 = part('w2');
      delta = kron(w1.t, w1.shape, w2.t, w2.shape);
      break;
    }
    case 'diff':
      delta = f32(g, layer, 'diff');
      break;
  }
  if (count(delta.shape as number[]) !== count(target)) {
    throw new LoraFileError(layer.key, `changes a weight of ${count(delta.shape as number[])} values but the model's has shape [${target}]: the LoRA was made for another model family or size`);
  }
  const scale = scaleOf(layer, rank, peftScale);
  const shaped = reshape(delta, [...target]);
  return scale === 1 ? shaped : mul(shaped, scalar(shaped, scale));
}

/** alpha / rank; without alpha kohya and LyCORIS mean alpha = rank (1), and peft files say it in their metadata. */
function scaleOf(layer: LoraLayer, rank: number | undefined, peftScale: number): number {
  // A full-rank LoKr has no rank: alpha does not apply, as in LyCORIS and ComfyUI.
  if (layer.alpha !== undefined && rank !== undefined) return layer.alpha / rank;
  return layer.method === 'lora' && !layer.underscored ? peftScale : 1;
}

/**
 * The merged weight W + w·ΔW, or with a DoRA magnitude m: m · (W + w·ΔW) / ‖W + w·ΔW‖, the norm taken per
 * output row when m has one value per output (peft, LyCORIS by default), else per input column.
 */
export function mergeInto(base: T, deltas: readonly { delta: T; weight: number; magnitude?: T }[]): T {
  let w = base;
  for (const d of deltas) {
    const scaled = d.weight === 1 ? d.delta : mul(d.delta, scalar(d.delta, d.weight));
    w = add(w, scaled);
    if (d.magnitude) w = applyMagnitude(w, d.magnitude);
  }
  return w;
}

function applyMagnitude(w: T, magnitude: T): T {
  const shape = w.shape as number[];
  const m = count(magnitude.shape as number[]);
  const perOutput = m === shape[0];
  if (!perOutput && m !== shape[1]) throw new LoraFileError('DoRA', `magnitude of ${m} values fits neither the ${shape[0]} outputs nor the ${shape[1]} inputs of a weight [${shape}]`);
  const axes = shape.map((_, i) => i).filter((i) => i !== (perOutput ? 0 : 1));
  const norm = sqrt(add(reduceSum(mul(w, w), axes), scalar(w, 1e-12)));
  const mShape = shape.map((d, i) => (i === (perOutput ? 0 : 1) ? d : 1));
  return mul(w, div(reshape(magnitude, mShape), norm));
}
