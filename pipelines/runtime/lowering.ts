// Graph rewrites per execution provider, applied to a built graph when a session is created for that provider:
// the graph builders emit one provider-neutral graph, and what a provider's kernels need to take their fast or
// accurate paths is decided here. Every rewrite computes the same function (on the CPU provider the rewritten
// graph equals the original, test/lowering.test.ts). The CUDA provider's fused kernels are chosen at build time
// instead (kernels.ts), because they change which ops the builders emit.
//
// WebGPU (onnxruntime's WebGPU provider, contrib_ops/webgpu/bert/multihead_attention.cc and flash_attention.cc):
// - MultiHeadAttention takes its FlashAttention kernel only for batch 1, without a packed bias, with present_key
//   and present_value outputs requested, a head size divisible by 4 and subgroups on the adapter; otherwise it
//   materialises the [B, heads, S, L] probabilities. So each batched attention becomes one MultiHeadAttention
//   per image with its present outputs, concatenated.
// - InstanceNormalization and LayerNormalization compute their statistics in the input's type: in fp16 the
//   variance of a GroupNorm group (up to 40960 values at SD 1.5's 1024² stage 0) loses the digits that PyTorch's
//   fp32 statistics keep. They run in fp32 between two casts.
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

const isMha = (n: NodeView) => n.op === 'MultiHeadAttention' && n.domain === 'com.microsoft';
const numHeads = (n: NodeView) => (n.attrs.num_heads?.kind === 'int' ? n.attrs.num_heads.value : 0);

/** Batched MultiHeadAttention as one call per image with present outputs (WebGPU's FlashAttention condition). */
const attentionPerImage: Rewrite = {
  name: 'MultiHeadAttention per image with present outputs',
  match: (n) => {
    if (!isMha(n) || n.outputs.length !== 1) return false;
    const [q, k, v, bias, mask] = n.inputs;
    if (!q || !k || !v || bias || mask || q.rank !== 3 || k.rank !== 3 || v.rank !== 3) return false;
    const heads = numHeads(n);
    const head = (t: T) => (typeof t.shape[2] === 'number' ? t.shape[2] / heads : NaN);
    return typeof q.shape[0] === 'number' && head(q) === head(v) && head(k) === head(v) && head(q) % 4 === 0;
  },
  emit: (n) => {
    const [q, k, v, , , attentionBias] = n.inputs as (T | null)[];
    const batch = q!.dim(0);
    const heads = numHeads(n);
    const perImage = (t: T) => (batch === 1 ? [t] : op.split(t, 0, Array(batch).fill(1)));
    const [qs, ks, vs] = [perImage(q!), perImage(k!), perImage(v!)];
    const biases = attentionBias && attentionBias.dim(0) === batch && batch > 1 ? perImage(attentionBias) : undefined;
    const outputs = qs.map((qi, b) => {
      const present = (t: T) => ({ dtype: t.dtype, shape: [1, heads, t.dim(1), t.dim(2) / heads] });
      const inputs = [qi, ks[b], vs[b], null, null, biases?.[b] ?? attentionBias];
      const out = { dtype: q!.dtype, shape: [1, q!.dim(1), v!.dim(2)] };
      return q!.graph.node('MultiHeadAttention', inputs, [out, present(ks[b]), present(vs[b])], n.attrs, 'com.microsoft')[0];
    });
    return [batch === 1 ? outputs[0] : op.concat(outputs, 0)];
  },
};

const NORMS = new Set(['InstanceNormalization', 'LayerNormalization']);

/** fp16 InstanceNormalization / LayerNormalization computed in fp32 between casts. */
const normStatisticsFp32: Rewrite = {
  name: 'fp16 normalisation statistics in fp32',
  match: (n) => NORMS.has(n.op) && n.domain === '' && n.outputs.length === 1 && n.inputs[0]?.dtype === 'float16',
  emit: (n) => {
    const inputs = n.inputs.map((t) => (t ? op.cast(t, 'float32') : null));
    const y = n.outputs[0];
    const [y32] = inputs[0]!.graph.node(n.op, inputs, [{ dtype: 'float32', shape: y.shape }], n.attrs);
    return [op.cast(y32, 'float16')];
  },
};

const WEBGPU: readonly Rewrite[] = [attentionPerImage, normStatisticsFp32];

/** By execution provider name (session.ts's Provider; a string here, as session.ts imports this module). */
const REWRITES: Readonly<Record<string, readonly Rewrite[]>> = { webgpu: WEBGPU };

/** Rewrites `graph` in place for `provider`; returns what changed (nothing for providers without rewrites). */
export function lowerForProvider(graph: Graph, provider: string): LoweringReport {
  const report: LoweringReport = {};
  for (const r of REWRITES[provider] ?? []) {
    const count = graph.replaceNodes(r.match, r.emit);
    if (count) report[r.name] = count;
  }
  return report;
}
