// Per-head perturbation (SoftPAG / PAG / HeadHunter): on the perturbed rows of the batch, head h of
// self-attention layer l outputs (1-u)·attention + u·V with u = head_weights[l, h]; u = 1 on every head
// of a layer is PAG's identity attention. The unperturbed rows are split off before the blend, so they
// run exactly the plain graph's arithmetic.
import type { Graph, T } from '../onnx/graph.ts';
import * as op from '../onnx/ops.ts';
import type { SelfAttentionLayer, SelfAttentionResult } from './self-attention.ts';

export const HEAD_WEIGHTS_INPUT = 'head_weights';

export interface HeadPerturbation {
  /** Graph input [layers, maxHeads] float32; columns past a layer's head count are ignored. */
  weights: T;
  /** How many rows at the end of the batch are the perturbed branch (diffusers' batch order). */
  rows: number;
}

const maxHeads = (layers: readonly SelfAttentionLayer[]): number => Math.max(...layers.map((l) => l.heads));

export function headWeightsInput(g: Graph, layers: readonly SelfAttentionLayer[], rows: number): HeadPerturbation {
  return { weights: g.input(HEAD_WEIGHTS_INPUT, 'float32', [layers.length, maxHeads(layers)]), rows };
}

/** The layer's output after `to_out`, with the perturbation applied to the last `p.rows` rows. */
export function finishAttention(r: SelfAttentionResult, layer: SelfAttentionLayer, p?: HeadPerturbation): T {
  if (!p || p.rows === 0) return r.project(r.heads);
  const [batch, tokens, channels] = [r.heads.dim(0), r.heads.dim(1), r.heads.dim(2)];
  const plainRows = batch - p.rows;
  if (plainRows < 0) throw new Error(`head perturbation: ${p.rows} perturbed rows do not fit a batch of ${batch}`);
  const [plain, perturbed] = plainRows > 0 ? op.split(r.heads, 0, [plainRows, p.rows]) : [undefined, r.heads];
  const perHead = [p.rows, tokens, layer.heads, channels / layer.heads];
  const u = op.reshape(op.cast(op.slice(p.weights, [0, 1], [layer.index, 0], [layer.index + 1, layer.heads]), r.heads.dtype), [1, 1, layer.heads, 1]);
  const out = op.reshape(perturbed, perHead);
  const v = op.reshape(r.value(plainRows, p.rows), perHead);
  // (1-u)·out + u·V rather than out + u·(V-out): exact at both u = 0 and u = 1.
  const blended = op.reshape(op.add(op.mul(op.sub(1, u), out), op.mul(u, v)), [p.rows, tokens, channels]);
  return r.project(plain ? op.concat([plain, blended], 0) : blended);
}

export interface HeadPick {
  layer: number;
  head: number;
  u: number;
}

/** The `head_weights` values [layers × maxHeads] for a selection of heads, checked against the model. */
export function headWeightsData(layers: readonly SelfAttentionLayer[], picks: readonly HeadPick[]): Float32Array {
  const width = maxHeads(layers);
  const data = new Float32Array(layers.length * width);
  for (const p of picks) {
    const layer = layers[p.layer];
    if (!Number.isInteger(p.layer) || !layer) throw new RangeError(`head L${p.layer}H${p.head}: layer ${p.layer} does not exist (this model has self-attention layers 0–${layers.length - 1})`);
    if (!Number.isInteger(p.head) || p.head < 0 || p.head >= layer.heads) throw new RangeError(`head L${p.layer}H${p.head}: layer ${p.layer} (${layer.name}) has heads 0–${layer.heads - 1}`);
    if (!(p.u >= 0 && p.u <= 1)) throw new RangeError(`head L${p.layer}H${p.head}: strength u = ${p.u} must lie in [0, 1]`);
    data[p.layer * width + p.head] = p.u;
  }
  return data;
}

/** The shape of the `head_weights` input: [layers, the most heads of any layer]. */
export const headWeightsShape = (layers: readonly SelfAttentionLayer[]): [number, number] => [layers.length, maxHeads(layers)];

/** PAG at layer level: u = 1 on every head of the given layers. */
export function wholeLayerPicks(layers: readonly SelfAttentionLayer[], indices: readonly number[], u = 1): HeadPick[] {
  return indices.flatMap((i) => Array.from({ length: layers[i]?.heads ?? 0 }, (_, head) => ({ layer: i, head, u })));
}
