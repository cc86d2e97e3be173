// Graph rewrites per execution provider, applied to a built graph when a session is created for that provider:
// the graph builders emit one provider-neutral graph, and what a provider's kernels need to take their fast or
// accurate paths is decided here. Every rewrite computes the same function (on the CPU provider the rewritten
// fp32 graph equals the original, test/lowering.test.ts). The CUDA provider's fused kernels are chosen at build
// time instead (kernels.ts), because they change which ops the builders emit.
//
// WebGPU, onnxruntime-node 1.30 (figures: bench/NOTES.md, "Issue 14, WebGPU part"; kernels: onnxruntime's
// core/providers/webgpu and contrib_ops/webgpu):
// - MultiHeadAttention already runs its FlashAttention kernel at batch 2 (one per image with present outputs timed
//   the same), but that kernel costs as much for 77 or 1024 keys as MatMul+Softmax+MatMul costs in all: small
//   attentions (cross-attention, SD's deeper self-attention) are decomposed, softmax in fp32.
// - InstanceNormalization and LayerNormalization keep their per-channel scale and shift, and apply them, in the
//   input's type; in fp16 x·scale + shift cancels digits when a group's mean is large against its spread. They
//   run in fp32 between two casts.
// - MatMul and Conv accumulate in the input's type (matmul_packed: `a_element_t`): fp16 sums over 2880–11520
//   terms. The default set runs them in fp32 between casts (weights are cast once, by constant folding): without
//   it an fp16 SD 1.5 step at 1024² is 2.1e-2 rel-L2 from CUDA fp32, with it 1.9e-3 (the bound is 5e-3),
//   for 22 % more time (605.6 against 497.6 ms). The `fast` set leaves them in fp16.
import type { Graph, NodeView, T } from '../onnx/graph.ts';
import * as op from '../onnx/ops.ts';

export interface LoweringReport {
  /** Rewrite name → how many nodes it replaced. */
  [rewrite: string]: number;
}

interface Rewrite {
  name: string;
  match(n: NodeView): boolean;
  emit(n: NodeView): T[];
}

const isStatic = (t: T | null): t is T => !!t && t.shape.every((d) => typeof d === 'number');
const numHeads = (n: NodeView) => (n.attrs.num_heads?.kind === 'int' ? n.attrs.num_heads.value : 0);
const scaleOf = (n: NodeView, headSize: number) => (n.attrs.scale?.kind === 'float' ? n.attrs.scale.value : 1 / Math.sqrt(headSize));

/** Score matrices up to this many entries per image and head are cheaper decomposed (SD: 1024², 16384×77). */
export const SMALL_ATTENTION_SCORES = 2 ** 21;

/** MultiHeadAttention over few query × key pairs as MatMul + Softmax (fp32) + MatMul. */
const smallAttentionDecomposed: Rewrite = {
  name: 'small MultiHeadAttention as MatMul+Softmax+MatMul',
  match: (n) => {
    if (n.op !== 'MultiHeadAttention' || n.domain !== 'com.microsoft' || n.outputs.length !== 1) return false;
    const [q, k, v, bias, mask] = n.inputs;
    if (!isStatic(q) || !isStatic(k) || !isStatic(v) || bias || mask || q.rank !== 3 || k.rank !== 3 || v.rank !== 3) return false;
    return q.dim(1) * k.dim(1) <= SMALL_ATTENTION_SCORES;
  },
  emit: (n) => {
    const [q, k, v, , , attentionBias] = n.inputs as T[];
    const heads = numHeads(n);
    const [b, s, l] = [q.dim(0), q.dim(1), k.dim(1)];
    const [d, dv] = [q.dim(2) / heads, v.dim(2) / heads];
    const qh = op.transpose(op.reshape(q, [b, s, heads, d]), [0, 2, 1, 3]);
    const kt = op.transpose(op.reshape(k, [b, l, heads, d]), [0, 2, 3, 1]);
    const vh = op.transpose(op.reshape(v, [b, l, heads, dv]), [0, 2, 1, 3]);
    let scores = op.mul(op.cast(op.matmul(qh, kt), 'float32'), scaleOf(n, d));
    if (attentionBias) scores = op.add(scores, op.cast(attentionBias, 'float32'));
    const probs = op.cast(op.softmax(scores), q.dtype);
    return [op.reshape(op.transpose(op.matmul(probs, vh), [0, 2, 1, 3]), [b, s, heads * dv])];
  },
};

/** `ops` with fp16 inputs computed in fp32 between casts (every float input cast up, the output cast back). */
function inFp32(name: string, ops: ReadonlySet<string>): Rewrite {
  return {
    name,
    match: (n) => ops.has(n.op) && n.domain === '' && n.outputs.length === 1 && n.inputs[0]?.dtype === 'float16',
    emit: (n) => {
      const inputs = n.inputs.map((t) => (t && t.dtype === 'float16' ? op.cast(t, 'float32') : t));
      const y = n.outputs[0];
      const [y32] = inputs[0]!.graph.node(n.op, inputs, [{ dtype: 'float32', shape: y.shape }], n.attrs);
      return [op.cast(y32, 'float16')];
    },
  };
}

const normsInFp32 = inFp32('fp16 Instance/LayerNormalization in fp32', new Set(['InstanceNormalization', 'LayerNormalization']));
const matmulsInFp32 = inFp32('fp16 MatMul/Conv in fp32', new Set(['MatMul', 'Conv']));

/** The rewrite sets of each provider: `default` is what sessions get; other sets are for measuring. */
const REWRITES: Readonly<Record<string, Readonly<Record<string, readonly Rewrite[]>>>> = {
  webgpu: {
    default: [smallAttentionDecomposed, normsInFp32, matmulsInFp32],
    fast: [smallAttentionDecomposed, normsInFp32],
  },
};

/**
 * Rewrites `graph` in place for `provider` (session.ts's Provider; a string here, as session.ts imports this
 * module) with its rewrite set `set`; returns what changed (nothing for providers without rewrites).
 */
export function lowerForProvider(graph: Graph, provider: string, set = 'default'): LoweringReport {
  const rewrites = REWRITES[provider]?.[set];
  if (REWRITES[provider] && !rewrites) throw new Error(`no lowering set "${set}" for ${provider}; sets: ${Object.keys(REWRITES[provider]).join(', ')}`);
  const report: LoweringReport = {};
  for (const r of rewrites ?? []) {
    const count = graph.replaceNodes(r.match, r.emit);
    if (count) report[r.name] = count;
  }
  return report;
}
