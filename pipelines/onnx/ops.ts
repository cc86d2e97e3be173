// Typed ONNX ops (default domain opset 21 + com.microsoft) with shape inference, so models are
// written as plain functions of tensors. Only ops that run on both the CPU and WebGPU providers
// (research/engine.md §2) belong here; GroupNorm is composed from InstanceNormalization for that reason.
import { attr, GraphError, T, type Attr, type Dim, type DType } from './graph.ts';

type Scalarish = T | number;

const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

function broadcast(a: readonly Dim[], b: readonly Dim[], what: string): Dim[] {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x === y || y === 1) out.push(x);
    else if (x === 1) out.push(y);
    else if (typeof x === 'string' || typeof y === 'string') out.push(typeof x === 'string' ? x : y);
    else throw new GraphError(`${what}: shapes [${a.join(',')}] and [${b.join(',')}] do not broadcast`);
  }
  return out;
}

const normAxis = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);

/** A scalar constant with the dtype of `like`. */
export function scalar(like: T, value: number): T {
  const g = like.graph;
  switch (like.dtype) {
    case 'float32': return g.constant('float32', [], Float32Array.of(value), 'scalar');
    case 'float16': return g.constant('float16', [], Uint16Array.of(f16Bits(value)), 'scalar');
    case 'int64': return g.constant('int64', [], BigInt64Array.of(BigInt(value)), 'scalar');
    case 'int32': return g.constant('int32', [], Int32Array.of(value), 'scalar');
    default: return cast(g.constant('float32', [], Float32Array.of(value), 'scalar'), like.dtype);
  }
}

function f16Bits(v: number): number {
  const f = new Float32Array([v]);
  const x = new Uint32Array(f.buffer)[0];
  const sign = (x >>> 16) & 0x8000;
  const e = ((x >>> 23) & 0xff) - 112;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) return sign;
  return sign | (e << 10) | ((x >>> 13) & 0x3ff);
}

export function int64s(like: T, values: readonly number[]): T {
  return like.graph.constant('int64', [values.length], BigInt64Array.from(values.map(BigInt)), 'ints');
}

export function floats(like: T, values: readonly number[], shape: readonly number[] = [values.length]): T {
  const g = like.graph;
  const f32 = g.constant('float32', shape, Float32Array.from(values), 'floats');
  return like.dtype === 'float32' ? f32 : cast(f32, like.dtype);
}

const lift = (like: T, x: Scalarish): T => (typeof x === 'number' ? scalar(like, x) : x);

function binary(op: string, a: Scalarish, b: Scalarish): T {
  const ta = typeof a === 'number' ? lift(b as T, a) : a;
  const tb = lift(ta, b);
  if (ta.dtype !== tb.dtype) throw new GraphError(`${op}: dtypes differ (${ta} vs ${tb})`);
  return ta.graph.node(op, [ta, tb], [{ dtype: ta.dtype, shape: broadcast(ta.shape, tb.shape, op) }])[0];
}

export const add = (a: Scalarish, b: Scalarish) => binary('Add', a, b);
export const sub = (a: Scalarish, b: Scalarish) => binary('Sub', a, b);
export const mul = (a: Scalarish, b: Scalarish) => binary('Mul', a, b);
export const div = (a: Scalarish, b: Scalarish) => binary('Div', a, b);
export const pow = (a: Scalarish, b: Scalarish) => binary('Pow', a, b);

function compare(op: string, a: T, b: Scalarish): T {
  const tb = lift(a, b);
  return a.graph.node(op, [a, tb], [{ dtype: 'bool', shape: broadcast(a.shape, tb.shape, op) }])[0];
}
export const equal = (a: T, b: Scalarish) => compare('Equal', a, b);
export const less = (a: T, b: Scalarish) => compare('Less', a, b);
export const greater = (a: T, b: Scalarish) => compare('Greater', a, b);

export function where(cond: T, a: Scalarish, b: Scalarish): T {
  const ta = typeof a === 'number' ? lift(b as T, a) : a;
  const tb = lift(ta, b);
  const shape = broadcast(broadcast(cond.shape, ta.shape, 'Where'), tb.shape, 'Where');
  return cond.graph.node('Where', [cond, ta, tb], [{ dtype: ta.dtype, shape }])[0];
}

function unary(op: string, x: T, attrs: Record<string, Attr> = {}, domain = ''): T {
  return x.graph.node(op, [x], [{ dtype: x.dtype, shape: x.shape }], attrs, domain)[0];
}

/** The element-wise ops of one input and no attributes, each named after its ONNX op. */
export const [neg, exp, log, sqrt, abs, sin, cos, erf, tanh, sigmoid, relu, reciprocal, identity] = (
  ['Neg', 'Exp', 'Log', 'Sqrt', 'Abs', 'Sin', 'Cos', 'Erf', 'Tanh', 'Sigmoid', 'Relu', 'Reciprocal', 'Identity'] as const
).map((op) => (x: T) => unary(op, x));
export const elu = (x: T, alpha = 1) => unary('Elu', x, { alpha: attr.float(alpha) });
export const softmax = (x: T, axis = -1) => unary('Softmax', x, { axis: attr.int(axis) });
export const silu = (x: T) => mul(x, sigmoid(x));
/** GELU: `tanh` is PyTorch's approximate='tanh', `none` the exact erf form. */
export const gelu = (x: T, approximate: 'none' | 'tanh' = 'none') => unary('Gelu', x, { approximate: attr.string(approximate) });
/** CLIP's quick_gelu: x·σ(1.702x). */
export const quickGelu = (x: T) => mul(x, sigmoid(mul(x, 1.702)));

export function clip(x: T, min?: number, max?: number): T {
  return x.graph.node('Clip', [x, min === undefined ? null : scalar(x, min), max === undefined ? null : scalar(x, max)], [{ dtype: x.dtype, shape: x.shape }])[0];
}

export function cast(x: T, dtype: DType): T {
  if (x.dtype === dtype) return x;
  const to = { float32: 1, uint8: 2, int8: 3, int16: 5, int32: 6, int64: 7, bool: 9, float16: 10, float64: 11, bfloat16: 16, float8e4m3fn: 17, float8e5m2: 19 }[dtype];
  return x.graph.node('Cast', [x], [{ dtype, shape: x.shape }], { to: attr.int(to) })[0];
}

export function matmul(a: T, b: T): T {
  if (a.dtype !== b.dtype) throw new GraphError(`MatMul: dtypes differ (${a} vs ${b})`);
  if (a.rank < 1 || b.rank < 1) throw new GraphError('MatMul: scalars are not allowed');
  const k1 = a.shape[a.rank - 1];
  const k2 = b.rank === 1 ? b.shape[0] : b.shape[b.rank - 2];
  if (typeof k1 === 'number' && typeof k2 === 'number' && k1 !== k2) {
    throw new GraphError(`MatMul: inner dimensions differ: ${a} × ${b}`);
  }
  const batchA = a.shape.slice(0, -2);
  const batchB = b.rank >= 2 ? b.shape.slice(0, -2) : [];
  const batch = broadcast(batchA, batchB, 'MatMul');
  const shape: Dim[] = [...batch];
  if (a.rank >= 2) shape.push(a.shape[a.rank - 2]);
  if (b.rank >= 2) shape.push(b.shape[b.rank - 1]);
  return a.graph.node('MatMul', [a, b], [{ dtype: a.dtype, shape }])[0];
}

export function transpose(x: T, perm: readonly number[]): T {
  if (perm.length !== x.rank) throw new GraphError(`Transpose: perm [${perm}] does not fit ${x}`);
  return x.graph.node('Transpose', [x], [{ dtype: x.dtype, shape: perm.map((p) => x.shape[p]) }], { perm: attr.ints(perm) })[0];
}

/** Reshape with ONNX semantics: 0 copies the input dimension, -1 is inferred. */
export function reshape(x: T, shape: readonly number[]): T {
  const out: Dim[] = shape.map((d, i) => (d === 0 ? x.shape[i] : d));
  const inferred = out.indexOf(-1);
  if (inferred >= 0) {
    if (x.shape.every((d) => typeof d === 'number') && out.every((d, i) => i === inferred || typeof d === 'number')) {
      const known = prod(out.filter((_, i) => i !== inferred) as number[]);
      const total = prod(x.shape as number[]);
      if (total % known !== 0) throw new GraphError(`Reshape: ${x} cannot become [${shape}]`);
      out[inferred] = total / known;
    } else {
      out[inferred] = `${x.name}_reshaped_${inferred}`;
    }
  } else if (x.shape.every((d) => typeof d === 'number') && out.every((d) => typeof d === 'number')) {
    if (prod(x.shape as number[]) !== prod(out as number[])) throw new GraphError(`Reshape: ${x} cannot become [${shape}]`);
  }
  return x.graph.node('Reshape', [x, int64s(x, shape)], [{ dtype: x.dtype, shape: out }])[0];
}

/**
 * Reshape to dimensions that are numbers or another value's dimension `[value, axis]`; where one of those is
 * symbolic the shape is read at run time (Shape → Gather → Concat), so one graph serves every size.
 */
export function reshapeAs(x: T, dims: readonly (number | readonly [T, number])[]): T {
  const out: Dim[] = dims.map((d) => (typeof d === 'number' ? d : d[0].shape[d[1]]));
  if (out.every((d) => typeof d === 'number')) return reshape(x, out as number[]);
  const parts = dims.map((d) => (typeof d === 'number' ? int64s(x, [d]) : gather(shapeOf(d[0]), int64s(x, [d[1]]))));
  return x.graph.node('Reshape', [x, concat(parts, 0)], [{ dtype: x.dtype, shape: out }])[0];
}

export function unsqueeze(x: T, axes: readonly number[]): T {
  const rank = x.rank + axes.length;
  const norm = axes.map((a) => normAxis(a, rank)).sort((a, b) => a - b);
  const shape: Dim[] = [];
  let j = 0;
  for (let i = 0; i < rank; i++) shape.push(norm.includes(i) ? 1 : x.shape[j++]);
  return x.graph.node('Unsqueeze', [x, int64s(x, axes)], [{ dtype: x.dtype, shape }])[0];
}

export function squeeze(x: T, axes: readonly number[]): T {
  const norm = axes.map((a) => normAxis(a, x.rank));
  for (const a of norm) if (x.shape[a] !== 1) throw new GraphError(`Squeeze: axis ${a} of ${x} is not 1`);
  return x.graph.node('Squeeze', [x, int64s(x, axes)], [{ dtype: x.dtype, shape: x.shape.filter((_, i) => !norm.includes(i)) }])[0];
}

export function concat(xs: readonly T[], axis: number): T {
  if (xs.length === 0) throw new GraphError('Concat: no inputs');
  const a = normAxis(axis, xs[0].rank);
  const shape = [...xs[0].shape];
  const sizes = xs.map((x) => x.shape[a]);
  shape[a] = sizes.every((d) => typeof d === 'number') ? (sizes as number[]).reduce((p, q) => p + q, 0) : `${xs[0].name}_concat`;
  return xs[0].graph.node('Concat', xs, [{ dtype: xs[0].dtype, shape }], { axis: attr.int(axis) })[0];
}

/** Split along `axis` into parts of the given sizes. */
export function split(x: T, axis: number, sizes: readonly number[]): T[] {
  const a = normAxis(axis, x.rank);
  const total = x.shape[a];
  if (typeof total === 'number' && sizes.reduce((p, q) => p + q, 0) !== total) {
    throw new GraphError(`Split: sizes [${sizes}] do not add up to dimension ${a} of ${x}`);
  }
  const outs = sizes.map((s) => ({ dtype: x.dtype, shape: x.shape.map((d, i) => (i === a ? s : d)) }));
  return x.graph.node('Split', [x, int64s(x, sizes)], outs, { axis: attr.int(axis) });
}

export function chunk(x: T, n: number, axis: number): T[] {
  const d = x.dim(axis);
  if (d % n !== 0) throw new GraphError(`chunk: dimension ${axis} of ${x} is not divisible by ${n}`);
  return split(x, axis, Array(n).fill(d / n));
}

/**
 * `fn` applied to `parts` near-equal pieces of each input along `axis` (the same split for every input), and
 * the pieces' results joined again along `axis`: a long axis in pieces, so a wide intermediate (GEGLU's 8·C
 * projection, LinFusion's fp32 features) exists for one piece at a time. One piece: `fn` on the whole.
 */
export function inPieces(xs: readonly T[], axis: number, parts: number, fn: (pieces: readonly T[]) => T): T {
  const a = normAxis(axis, xs[0].rank);
  const length = xs[0].shape[a];
  const n = Math.max(1, Math.min(Math.floor(parts), typeof length === 'number' ? length : Infinity));
  if (n === 1) return fn(xs);
  if (typeof length !== 'number') {
    // A symbolic length: ONNX Split's num_outputs cuts it into n pieces of ceil(length / n) when the session runs.
    const outs = (x: T) => Array.from({ length: n }, (_, i) => ({ dtype: x.dtype, shape: x.shape.map((d, j) => (j === a ? `${x.name}_piece${i}` : d)) }));
    const pieces = xs.map((x) => x.graph.node('Split', [x], outs(x), { axis: attr.int(a), num_outputs: attr.int(n) }));
    return concat(pieces[0].map((_, i) => fn(pieces.map((p) => p[i]))), a);
  }
  if (a === 1 && length % n === 0 && xs.every((x) => x.shape[0] === 1 && x.shape[1] === length && x.shape.every((d) => typeof d === 'number'))) {
    // One row cut along its tokens: a free Reshape to [n, length / n, …] and a Split on that outer axis copies
    // whole blocks, about twice as fast as a Split on axis 1 at 2 M tokens (bench/NOTES.md, ff-pieces).
    const pieces = xs.map((x) => split(reshape(x, [n, length / n, ...(x.shape.slice(2) as number[])]), 0, Array(n).fill(1)));
    const out = concat(pieces[0].map((_, i) => fn(pieces.map((p) => p[i]))), 0);
    if (out.shape.slice(2).some((d) => typeof d !== 'number')) throw new GraphError(`inPieces: the pieces' output ${out} has symbolic trailing dimensions`);
    return reshape(out, [1, length, ...(out.shape.slice(2) as number[])]);
  }
  const sizes = Array.from({ length: n }, (_, i) => Math.floor((length * (i + 1)) / n) - Math.floor((length * i) / n));
  const pieces = xs.map((x) => split(x, axis, sizes));
  return concat(sizes.map((_, i) => fn(pieces.map((p) => p[i]))), axis);
}

export function slice(x: T, axes: readonly number[], starts: readonly number[], ends: readonly number[], steps?: readonly number[]): T {
  const shape = [...x.shape];
  axes.forEach((ax, i) => {
    const a = normAxis(ax, x.rank);
    const d = x.shape[a];
    const step = steps?.[i] ?? 1;
    if (typeof d !== 'number') {
      shape[a] = `${x.name}_slice${a}`;
      return;
    }
    const clampIdx = (v: number) => Math.min(Math.max(v < 0 ? v + d : v, 0), d);
    const s = clampIdx(starts[i]);
    const e = clampIdx(ends[i]);
    shape[a] = step > 0 ? Math.max(0, Math.ceil((e - s) / step)) : Math.max(0, Math.ceil((s - e) / -step));
  });
  const ins = [x, int64s(x, starts), int64s(x, ends), int64s(x, axes)];
  if (steps) ins.push(int64s(x, steps));
  return x.graph.node('Slice', ins, [{ dtype: x.dtype, shape }])[0];
}

export function gather(x: T, indices: T, axis = 0): T {
  const a = normAxis(axis, x.rank);
  const shape = [...x.shape.slice(0, a), ...indices.shape, ...x.shape.slice(a + 1)];
  return x.graph.node('Gather', [x, indices], [{ dtype: x.dtype, shape }], { axis: attr.int(axis) })[0];
}

export function expand(x: T, shape: readonly number[]): T {
  return x.graph.node('Expand', [x, int64s(x, shape)], [{ dtype: x.dtype, shape: broadcast(x.shape, shape, 'Expand') }])[0];
}

export function tile(x: T, repeats: readonly number[]): T {
  const shape = x.shape.map((d, i) => (typeof d === 'number' ? d * repeats[i] : d));
  return x.graph.node('Tile', [x, int64s(x, repeats)], [{ dtype: x.dtype, shape }])[0];
}

function reduce(op: string, x: T, axes: readonly number[], keepdims: boolean): T {
  const norm = axes.map((a) => normAxis(a, x.rank));
  const shape = keepdims ? x.shape.map((d, i) => (norm.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !norm.includes(i));
  return x.graph.node(op, [x, int64s(x, axes)], [{ dtype: x.dtype, shape }], { keepdims: attr.int(keepdims ? 1 : 0) })[0];
}
export const reduceMean = (x: T, axes: readonly number[], keepdims = true) => reduce('ReduceMean', x, axes, keepdims);
export const reduceSum = (x: T, axes: readonly number[], keepdims = true) => reduce('ReduceSum', x, axes, keepdims);
export const reduceMax = (x: T, axes: readonly number[], keepdims = true) => reduce('ReduceMax', x, axes, keepdims);

/** LayerNormalization over the last axis; scale/bias may be omitted (elementwise_affine=False). */
export function layerNorm(x: T, scale: T | undefined, bias: T | undefined, eps: number): T {
  const c = x.dim(-1);
  const s = scale ?? floats(x, Array(c).fill(1));
  return x.graph.node('LayerNormalization', [x, s, bias ?? null], [{ dtype: x.dtype, shape: x.shape }], { axis: attr.int(-1), epsilon: attr.float(eps) })[0];
}

/**
 * GroupNorm for [N, C, ...] as Reshape + InstanceNormalization + affine: ONNX GroupNormalization and
 * com.microsoft GroupNorm fall back to the CPU on the WebGPU provider.
 */
export function groupNorm(x: T, groups: number, scale: T | undefined, bias: T | undefined, eps: number): T {
  const n = x.shape[0];
  const c = x.dim(1);
  if (c % groups !== 0) throw new GraphError(`GroupNorm: ${c} channels are not divisible into ${groups} groups (${x})`);
  const grouped = reshape(x, [typeof n === 'number' ? n : 0, groups, -1]);
  const ones = floats(x, Array(groups).fill(1));
  const zeros = floats(x, Array(groups).fill(0));
  const normed = x.graph.node('InstanceNormalization', [grouped, ones, zeros], [{ dtype: x.dtype, shape: grouped.shape }], { epsilon: attr.float(eps) })[0];
  let y = reshapeAs(normed, x.shape.map((d, i) => (typeof d === 'number' ? d : i === 0 ? 0 : ([x, i] as const))));
  const bshape = [c, ...Array(x.rank - 2).fill(1)];
  if (scale) y = mul(y, reshape(scale, bshape));
  if (bias) y = add(y, reshape(bias, bshape));
  return y;
}

/**
 * com.microsoft GroupNorm on [N, H, W, C] (CUDA provider only), optionally with SiLU folded in. Its scale
 * and bias must be float32 whatever the input's type (the CUDA kernel refuses fp16 ones at run time).
 */
export function groupNormNhwc(x: T, groups: number, scale: T, bias: T, eps: number, silu: boolean): T {
  const c = x.dim(3);
  if (c % groups !== 0) throw new GraphError(`GroupNorm: ${c} channels are not divisible into ${groups} groups (${x})`);
  return x.graph.node('GroupNorm', [x, cast(scale, 'float32'), cast(bias, 'float32')], [{ dtype: x.dtype, shape: x.shape }], {
    activation: attr.int(silu ? 1 : 0),
    channels_last: attr.int(1),
    epsilon: attr.float(eps),
    groups: attr.int(groups),
  }, 'com.microsoft')[0];
}

/** com.microsoft BiasSplitGelu (CUDA provider only): halves of x + bias as a · gelu(b), GEGLU in one kernel. */
export function biasSplitGelu(x: T, bias: T): T {
  const shape = [...x.shape.slice(0, -1), x.dim(-1) / 2];
  return x.graph.node('BiasSplitGelu', [x, bias], [{ dtype: x.dtype, shape }], {}, 'com.microsoft')[0];
}

/** com.microsoft BiasAdd (CUDA provider only): x + bias + skip over [B, S, C] in one kernel. */
export function biasAdd(x: T, bias: T, skip: T): T {
  return x.graph.node('BiasAdd', [x, bias, skip], [{ dtype: x.dtype, shape: x.shape }], {}, 'com.microsoft')[0];
}

export interface Conv2dOptions {
  stride?: number;
  padding?: number;
  groups?: number;
  dilation?: number;
}

export function conv2d(x: T, weight: T, bias: T | undefined, o: Conv2dOptions = {}): T {
  const stride = o.stride ?? 1;
  const pad = o.padding ?? 0;
  const groups = o.groups ?? 1;
  const dil = o.dilation ?? 1;
  const [cout, cinPerGroup, kh, kw] = weight.shape as number[];
  if (x.dim(1) !== cinPerGroup * groups) throw new GraphError(`Conv: ${x} has ${x.dim(1)} channels but weight ${weight} expects ${cinPerGroup * groups}`);
  const out = (d: Dim, k: number) => (typeof d === 'number' ? Math.floor((d + 2 * pad - dil * (k - 1) - 1) / stride) + 1 : d);
  const shape = [x.shape[0], cout, out(x.shape[2], kh), out(x.shape[3], kw)];
  return x.graph.node('Conv', [x, weight, bias ?? null], [{ dtype: x.dtype, shape }], {
    strides: attr.ints([stride, stride]),
    pads: attr.ints([pad, pad, pad, pad]),
    dilations: attr.ints([dil, dil]),
    group: attr.int(groups),
    kernel_shape: attr.ints([kh, kw]),
  })[0];
}

/** Nearest-neighbour upsampling of the two spatial axes by an integer factor. */
export function upsampleNearest(x: T, factor: number): T {
  const shape = x.shape.map((d, i) => (i >= 2 && typeof d === 'number' ? d * factor : d));
  const scales = floats(x, [1, 1, factor, factor]);
  const scales32 = scales.dtype === 'float32' ? scales : x.graph.constant('float32', [4], Float32Array.of(1, 1, factor, factor), 'scales');
  return x.graph.node('Resize', [x, null, scales32], [{ dtype: x.dtype, shape }], {
    mode: attr.string('nearest'),
    nearest_mode: attr.string('floor'),
    coordinate_transformation_mode: attr.string('asymmetric'),
  })[0];
}

export function avgPool2d(x: T, kernel: number, stride = kernel): T {
  const out = (d: Dim) => (typeof d === 'number' ? Math.floor((d - kernel) / stride) + 1 : d);
  return x.graph.node('AveragePool', [x], [{ dtype: x.dtype, shape: [x.shape[0], x.shape[1], out(x.shape[2]), out(x.shape[3])] }], {
    kernel_shape: attr.ints([kernel, kernel]),
    strides: attr.ints([stride, stride]),
  })[0];
}

export function globalAvgPool(x: T): T {
  return x.graph.node('GlobalAveragePool', [x], [{ dtype: x.dtype, shape: [...x.shape.slice(0, 2), ...Array(x.rank - 2).fill(1)] }])[0];
}

export function pad(x: T, pads: readonly number[], mode: 'constant' | 'reflect' | 'edge' = 'constant'): T {
  const r = x.rank;
  const shape = x.shape.map((d, i) => (typeof d === 'number' ? d + pads[i] + pads[i + r] : d));
  return x.graph.node('Pad', [x, int64s(x, pads)], [{ dtype: x.dtype, shape }], { mode: attr.string(mode) })[0];
}

export function einsum(equation: string, ...xs: T[]): T {
  const [lhs, rhs] = equation.replace(/\s/g, '').split('->');
  const terms = lhs.split(',');
  if (terms.length !== xs.length) throw new GraphError(`Einsum "${equation}": ${xs.length} inputs given`);
  const sizes = new Map<string, Dim>();
  terms.forEach((term, i) => [...term].forEach((ch, j) => {
    const d = xs[i].shape[j];
    const prev = sizes.get(ch);
    if (prev === undefined || prev === 1) sizes.set(ch, d);
  }));
  const shape = [...rhs].map((ch) => sizes.get(ch) ?? 1);
  return xs[0].graph.node('Einsum', xs, [{ dtype: xs[0].dtype, shape }], { equation: attr.string(equation) })[0];
}

export interface MhaOptions {
  /** Additive bias [B or 1, heads or 1, S, L]. */
  attentionBias?: T;
  /** Defaults to 1/sqrt(head_dim). */
  scale?: number;
}

/**
 * com.microsoft MultiHeadAttention on [B, S, heads·d] query and [B, L, heads·d] key/value:
 * 8–9× faster than MatMul+Softmax on WebGPU at 16K tokens (research/engine.md §2).
 */
export function multiHeadAttention(q: T, k: T, v: T, heads: number, o: MhaOptions = {}): T {
  if (q.dim(-1) % heads !== 0) throw new GraphError(`MultiHeadAttention: width ${q.dim(-1)} is not divisible by ${heads} heads`);
  const attrs: Record<string, Attr> = { num_heads: attr.int(heads) };
  if (o.scale !== undefined) attrs.scale = attr.float(o.scale);
  const shape = [q.shape[0], q.shape[1], v.shape[2]];
  return q.graph.node('MultiHeadAttention', [q, k, v, null, null, o.attentionBias ?? null], [{ dtype: q.dtype, shape }], attrs, 'com.microsoft')[0];
}

/**
 * MultiHeadAttention on one packed input [B, S, heads, 3, d] (Q, K, V of each head side by side): the layout
 * ORT's CUDA provider hands to its fused TensorRT kernels without a copy. Output [B, S, heads·d].
 */
export function packedQkvAttention(qkv: T, o: Omit<MhaOptions, 'attentionBias'> = {}): T {
  if (qkv.rank !== 5 || qkv.dim(3) !== 3) throw new GraphError(`MultiHeadAttention (packed QKV): input must be [B, S, heads, 3, d], got [${qkv.shape.join(', ')}]`);
  const attrs: Record<string, Attr> = { num_heads: attr.int(qkv.dim(2)) };
  if (o.scale !== undefined) attrs.scale = attr.float(o.scale);
  const shape = [qkv.shape[0], qkv.shape[1], qkv.dim(2) * qkv.dim(4)];
  return qkv.graph.node('MultiHeadAttention', [qkv], [{ dtype: qkv.dtype, shape }], attrs, 'com.microsoft')[0];
}

/** MultiHeadAttention with query [B, S, heads·d] and packed key/value [B, L, heads, 2, d]. Output [B, S, heads·d]. */
export function packedKvAttention(q: T, kv: T, o: Omit<MhaOptions, 'attentionBias'> = {}): T {
  if (kv.rank !== 5 || kv.dim(3) !== 2) throw new GraphError(`MultiHeadAttention (packed KV): key/value must be [B, L, heads, 2, d], got [${kv.shape.join(', ')}]`);
  const attrs: Record<string, Attr> = { num_heads: attr.int(kv.dim(2)) };
  if (o.scale !== undefined) attrs.scale = attr.float(o.scale);
  return q.graph.node('MultiHeadAttention', [q, kv], [{ dtype: q.dtype, shape: [q.shape[0], q.shape[1], q.shape[2]] }], attrs, 'com.microsoft')[0];
}

export function shapeOf(x: T): T {
  return x.graph.node('Shape', [x], [{ dtype: 'int64', shape: [x.rank] }])[0];
}

export const numel = (x: T): number => prod(x.shape.map((_, i) => x.dim(i)));

// --- added for the CLIP text model (pooled output at the EOS position) ---

/** Index of the first maximum along `axis` (int64), as torch.argmax. */
export function argMax(x: T, axis: number, keepdims = false): T {
  const a = normAxis(axis, x.rank);
  const shape = keepdims ? x.shape.map((d, i) => (i === a ? 1 : d)) : x.shape.filter((_, i) => i !== a);
  return x.graph.node('ArgMax', [x], [{ dtype: 'int64', shape }], { axis: attr.int(a), keepdims: attr.int(keepdims ? 1 : 0), select_last_index: attr.int(0) })[0];
}

// --- added for the UNet and its attention variants (LinFusion, AgentSD token merging) ---

export const leakyRelu = (x: T, alpha = 0.01) => unary('LeakyRelu', x, { alpha: attr.float(alpha) });

/** Nearest-neighbour resize of the two spatial axes to an exact size (torch `interpolate(size=…)`). */
export function resizeNearest(x: T, height: number, width: number): T {
  const sizes = int64s(x, [x.dim(0), x.dim(1), height, width]);
  return x.graph.node('Resize', [x, null, null, sizes], [{ dtype: x.dtype, shape: [x.shape[0], x.shape[1], height, width] }], {
    mode: attr.string('nearest'),
    nearest_mode: attr.string('floor'),
    coordinate_transformation_mode: attr.string('asymmetric'),
  })[0];
}

/** The k largest (or smallest) values along `axis` and their int64 indices, sorted; ties keep index order. */
export function topK(x: T, k: number, axis = -1, largest = true): { values: T; indices: T } {
  const a = normAxis(axis, x.rank);
  const shape = x.shape.map((d, i) => (i === a ? k : d));
  const [values, indices] = x.graph.node('TopK', [x, int64s(x, [k])], [{ dtype: x.dtype, shape }, { dtype: 'int64', shape }], {
    axis: attr.int(a),
    largest: attr.int(largest ? 1 : 0),
    sorted: attr.int(1),
  });
  return { values, indices };
}

/** torch.gather: out[i][j] = x[i][index[i][j]] along `axis`; `index` has the output's shape. */
export function gatherElements(x: T, index: T, axis: number): T {
  return x.graph.node('GatherElements', [x, index], [{ dtype: x.dtype, shape: index.shape }], { axis: attr.int(normAxis(axis, x.rank)) })[0];
}

/** ScatterND: rows of `updates` written (or added, with duplicates summed) into `data` at `indices` [K, r]. */
export function scatterND(data: T, indices: T, updates: T, reduction: 'none' | 'add' = 'none'): T {
  return data.graph.node('ScatterND', [data, indices, updates], [{ dtype: data.dtype, shape: data.shape }], { reduction: attr.string(reduction) })[0];
}
