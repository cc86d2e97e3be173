// ToMeSD's bipartite soft matching as graph ops: each src token finds its most similar dst (cosine
// similarity of the block input), the best-matched src tokens are averaged into their dst
// (mean including the dst itself), and `unmerge` copies each dst's output back to the tokens it absorbed.
// Only Gather/TopK/ArgMax/ScatterND/MatMul: no data-dependent shapes.
// Index arithmetic is done on float32 tensors (exact below 2^24) and cast to an integer type only where an
// op consumes indices: ORT's WebGPU provider has no kernels for int64 Slice/Add/Where/Concat/Reshape/Cast,
// so int64 arithmetic would send those nodes (and the transfers around them) to the CPU.
import type { T } from '../onnx/graph.ts';
import * as op from '../onnx/ops.ts';
import type { MergeGeometry } from './agent-partition.ts';

export interface TokenMerge {
  /** [unmerged src ; dst means], N − merged tokens. */
  merged: T;
  /** The agent tokens, when the geometry uses agents. */
  agents?: T;
  /** [B, N − merged, C] → [B, N, C]. */
  unmerge(o: T): T;
}

const arange = (like: T, n: number, scale = 1, shift = 0) =>
  like.graph.constant('float32', [n], Float32Array.from({ length: n }, (_, i) => i * scale + shift), 'arange');

/** int64 indices (TopK/ArgMax outputs) as float32 values, through a Gather that runs on the GPU. */
const indexValues = (idx: T, n: number) => op.gather(arange(idx, n), idx, 0);

/** x [B, M, C], idx [B, K] (float32 per-row indices into M) → [B, K, C]. */
function gatherRows(x: T, idx: T): T {
  const [batch, m, c] = [x.dim(0), x.dim(1), x.dim(2)];
  const offsets = op.reshape(arange(idx, batch, m), [batch, 1]);
  return op.gather(op.reshape(x, [batch * m, c]), op.cast(op.add(idx, offsets), 'int32'), 0);
}

/** Similarities computed per piece of at most this many values ([B, rows, dst]: 128 MB in fp16). */
const SCORE_VALUES = 2 ** 26;

/**
 * For each src token, its highest cosine similarity (float32 [B, src]) and the dst it belongs to (float32 index
 * values), from unit vectors [B, src, C] and [B, dst, C]. The similarities are in the graph's float type, as ToMeSD
 * computes them, and in pieces of src rows: the whole [B, src, dst] matrix would be the largest tensor of the merge
 * (2 GB in fp32 for SD 1.5 at 2048²), and each row's max and argmax do not depend on the others.
 */
export function bestMatches(src: T, dst: T, dstCount: number, maxValues = SCORE_VALUES): { best: T; bestDst: T } {
  const [batch, srcCount] = [src.dim(0), src.dim(1)];
  const rows = Math.max(1, Math.floor(maxValues / (batch * dstCount)));
  const sizes = Array.from({ length: Math.ceil(srcCount / rows) }, (_, i) => Math.min(rows, srcCount - i * rows));
  const dstT = op.transpose(dst, [0, 2, 1]);
  const parts = (sizes.length > 1 ? op.split(src, 1, sizes) : [src]).map((piece) => {
    const scores = op.matmul(piece, dstT);
    return { best: op.cast(op.reduceMax(scores, [-1], false), 'float32'), arg: op.argMax(scores, -1) };
  });
  const join = (ts: T[]) => (ts.length > 1 ? op.concat(ts, 1) : ts[0]);
  return { best: join(parts.map((p) => p.best)), bestDst: indexValues(join(parts.map((p) => p.arg)), dstCount) };
}

/** `metric` decides the matching; `y` is what gets merged. `partition` is the float32 [2, N] graph input. */
export function bipartiteMerge(metric: T, y: T, partition: T, geo: MergeGeometry): TokenMerge {
  const [batch, channels] = [y.dim(0), y.dim(2)];
  const perm = op.reshape(op.slice(partition, [0], [0], [1]), [geo.tokens]);
  const inverse = op.cast(op.reshape(op.slice(partition, [0], [1], [2]), [geo.tokens]), 'int32');
  const dstIdx = op.cast(op.slice(perm, [0], [0], [geo.dst]), 'int32');
  const srcIdx = op.cast(op.slice(perm, [0], [geo.dst], [geo.tokens]), 'int32');

  const m32 = op.cast(metric, 'float32');
  const unit = op.cast(op.div(m32, op.sqrt(op.reduceSum(op.mul(m32, m32), [-1]))), metric.dtype);
  const { best, bestDst } = bestMatches(op.gather(unit, srcIdx, 1), op.gather(unit, dstIdx, 1), geo.dst);
  const order = indexValues(op.topK(best, geo.src, -1, true).indices, geo.src);
  // Sorting a permutation yields its inverse: rank[p] = position of src p in `order`.
  const rank = indexValues(op.topK(order, geo.src, -1, false).indices, geo.src);

  const src = op.gather(y, srcIdx, 1);
  const dst = op.gather(y, dstIdx, 1);
  const mergeTop = (count: number): T => {
    const kept = gatherRows(src, op.slice(order, [1], [count], [geo.src]));
    if (count === 0) return op.concat([kept, dst], 1);
    const taken = op.slice(order, [1], [0], [count]);
    const targetDst = op.reshape(gatherRows(op.reshape(bestDst, [batch, geo.src, 1]), taken), [batch, count]);
    const target = op.add(targetDst, op.reshape(arange(taken, batch, geo.dst), [batch, 1]));
    const index = op.cast(op.reshape(target, [batch * count, 1]), 'int64');
    // Sums in fp32: ScatterND has no fp16 `add` kernel on the CPU provider.
    const flat32 = (t: T, n: number) => op.cast(op.reshape(t, [n, channels]), 'float32');
    const sums = op.scatterND(flat32(dst, batch * geo.dst), index, flat32(gatherRows(src, taken), batch * count), 'add');
    const one = index.graph.constant('float32', [], Float32Array.of(1), 'one');
    const counts = op.scatterND(op.expand(one, [batch * geo.dst, 1]), index, op.expand(one, [batch * count, 1]), 'add');
    const means = op.cast(op.reshape(op.div(sums, counts), [batch, geo.dst, channels]), y.dtype);
    return op.concat([kept, means], 1);
  };

  const kept = geo.src - geo.merged;
  return {
    merged: mergeTop(geo.merged),
    agents: geo.agents ? mergeTop(geo.agentMerged) : undefined,
    unmerge: (o) => {
      const srcTarget = op.where(op.less(rank, geo.merged), op.add(bestDst, kept), op.sub(rank, geo.merged));
      const dstTarget = op.expand(op.reshape(arange(o, geo.dst, 1, kept), [1, geo.dst]), [batch, geo.dst]);
      const target = op.gather(op.concat([dstTarget, srcTarget], 1), inverse, 1);
      return gatherRows(o, target);
    },
  };
}
