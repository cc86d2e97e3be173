// IR-Diffusion's Reposition Attention and masked mutual cross-attention (research/seed-guidance.md
// §3.5–3.6, official code `DreamStoryScaledAttnProcessor`).
//
// How reference features reach the scene, in ONNX: exactly as the official final pass, the reference
// images ride in the same batch as the scene. One UNet (or DiT) call has the rows
//   [ref_1 … ref_N of group 0, …, ref_1 … ref_N of group G-1, scene of group 0, …, scene of group G-1]
// with groups = [uncond, cond] under CFG (G = 2) or [cond] (G = 1). The reference rows are fed the
// very model inputs their own denoising pass saw at that call (recorded by the recipe), so inside the
// graph their layer inputs are those of the reference pass at the same step; the scene rows read them
// directly. Nothing per layer leaves the graph: no K/V outputs, no per-step feature store (which
// would be GBs at SDXL sizes); the price is N extra rows per group, the same as the official code.
//
// In the layers that use the references ("mutual" layers), for each subject i and group g:
//   • the reference's attention input is multiplied by its source mask S_i, its bbox cropped and
//     nearest-resized into the bbox of the scene's target mask T_i, zero elsewhere (a gather with
//     per-token weights, computed in JS per grid by recipes/story/reposition-masks.ts), then projected with the layer's own to_k/to_v;
//   • the scene query attends over [K_1 … K_N, K_scene]: segment i allows only keys inside the
//     relocated S_i and only queries inside T_i after dropout (each token kept with prob 1 − p, drawn
//     per step and grid); the scene segment carries the isolation bias (isolation.ts);
//   • softmax over everything, then the product with [V_1 … V_N, V_scene].
// Reference rows always get plain attention. Masks are graph inputs, one set per grid, so one graph
// serves every step, scene and box layout; all-zero masks give the plain model.
//
// Masked mutual cross-attention (every cross-attention layer, every step): the scene query also
// attends to each reference's text; inside the union of the target masks the output becomes
// (1 − λ)·vanilla + λ·(mask-weighted mean of the per-subject outputs), λ = 0.9; outside, vanilla.
import type { DType, Graph, T } from '../onnx/graph.ts';
import * as op from '../onnx/ops.ts';
import { biasedAttend, constantLike, isolationBias, maskedLogit, type TokenGrid } from './isolation.ts';
import { rows } from './self-attention.ts';

/** The official run's settings (run_IR_Diffusion.sh + pipe_test.py defaults). */
export const IR_DEFAULTS = {
  /** Probability of dropping a target-mask token from the reposition queries, redrawn every step. */
  dropout: 0.5,
  /** Weight of the mutual cross-attention inside the masks. */
  crossAttentionLambda: 0.9,
  /** Added to the logits of the reference segments (ref_sa_lambda). */
  refLogitBias: 0,
  /** First step with mutual attention (start_step). */
  startStep: 0,
  /** Mutual layers start at self-attention layer 36 of SDXL's 70 (start_layer), in execution order. */
  startLayerFraction: 36 / 70,
} as const;

/** The rows of one story batch: G groups of N references, then the G scene rows. */
export interface StoryBatch {
  groups: number;
  subjects: number;
}

export const batchRows = (b: StoryBatch): number => b.groups * (b.subjects + 1);

/** Self-attention layers (execution-order indices) that use the references: the same depth fraction as the official run. */
export function mutualLayerIndices(layerCount: number, from = Math.round(IR_DEFAULTS.startLayerFraction * layerCount)): number[] {
  return Array.from({ length: Math.max(0, layerCount - from) }, (_, i) => from + i);
}

// ---- Graph inputs, one set per grid -------------------------------------------------------------

/** The per-grid mask inputs of one story graph and the biases derived from them (built once per grid). */
export interface GridInputs {
  grid: TokenGrid;
  /** [N, S] target masks T_i: isolation and mutual cross-attention. */
  targets: T;
  /** [N, S] target masks after dropout: which queries may read reference i (mutual layers only). */
  queries?: T;
  /** [N·S] int64: for every reference-segment key, its token in the stacked reference rows. */
  gather?: T;
  /** [N·S] relocated source masks: the weights of the gathered tokens and the keys allowed. */
  keys?: T;
  isolation?: T;
  mutualBias?: T;
}

export const gridKey = (grid: TokenGrid): string => `${grid.height}x${grid.width}`;

/** Declares the mask inputs lazily, per grid, as layers ask for them; `grids` lists them for the feeds. */
export class StoryAttentionInputs {
  private readonly byGrid = new Map<string, GridInputs>();

  constructor(readonly batch: StoryBatch) {}

  get grids(): GridInputs[] {
    return [...this.byGrid.values()];
  }

  at(g: Graph, grid: TokenGrid, mutual: boolean): GridInputs {
    const key = gridKey(grid);
    const n = this.batch.subjects;
    const s = grid.height * grid.width;
    let entry = this.byGrid.get(key);
    if (!entry) {
      entry = { grid, targets: g.input(`ir_targets_${key}`, 'float32', [n, s]) };
      this.byGrid.set(key, entry);
    }
    if (mutual && !entry.gather) {
      entry.queries = g.input(`ir_queries_${key}`, 'float32', [n, s]);
      entry.gather = g.input(`ir_gather_${key}`, 'int64', [n * s]);
      entry.keys = g.input(`ir_keys_${key}`, 'float32', [n * s]);
    }
    return entry;
  }
}

/** What the recipe knows per grid for one call: binary masks per subject. */
// ---- Self-attention ------------------------------------------------------------------------------

/** What both IR attention layers get: the batch layout, the grid's mask inputs, the layer input [B, S, C]. */
interface StoryAttentionLayer {
  batch: StoryBatch;
  inputs: GridInputs;
  hidden: T;
  heads: number;
  /** Attention in fp32 inside an fp16 graph. */
  fp32: boolean;
}

export interface StorySelfAttention extends StoryAttentionLayer {
  /** The projections of `hidden`. */
  q: T;
  k: T;
  v: T;
  /** The layer's own key and value projections (applied to repositioned reference states). */
  toK: (x: T) => T;
  toV: (x: T) => T;
  /** Whether this layer uses the references (else: isolation only). */
  mutual: boolean;
  refLogitBias?: number;
  /** Isolation Attention on the scene's own keys (default on). */
  isolation?: boolean;
}

/** What a story graph (UNet or DiT) takes beyond the model's own build options. */
export interface StoryGraphOptions {
  batch: StoryBatch;
  /** Self-attention layers (execution order) that read the references. */
  mutualLayers: ReadonlySet<number>;
  /** Isolation Attention (default on). */
  isolation?: boolean;
  /** Masked mutual cross-attention (default on), and its λ. */
  mutualCrossAttention?: boolean;
  crossAttentionLambda?: number;
  refLogitBias?: number;
}

/** One self-attention layer of a story graph: IR self-attention, or plain attention in a layer with neither isolation nor references. */
export function storyLayerSelfAttention(
  o: StoryGraphOptions,
  inputs: StoryAttentionInputs,
  layer: { index: number; grid: TokenGrid },
  a: Omit<StorySelfAttention, 'batch' | 'inputs' | 'mutual' | 'refLogitBias' | 'isolation'>,
): T {
  const mutual = o.mutualLayers.has(layer.index);
  if (o.isolation === false && !mutual) return biasedAttend(a.q, a.k, a.v, a.heads, { fp32: a.fp32 });
  return storySelfAttention({
    ...a, batch: o.batch, inputs: inputs.at(a.hidden.graph, layer.grid, mutual), mutual, refLogitBias: o.refLogitBias, isolation: o.isolation !== false,
  });
}

/** Self-attention output [B, S, C] (before to_out): plain for reference rows, isolated/repositioned for scene rows. */
export function storySelfAttention(c: StorySelfAttention): T {
  const { groups, subjects } = c.batch;
  const refs = groups * subjects;
  const s = c.hidden.dim(1);
  const dtype = c.fp32 ? 'float32' : c.q.dtype;
  const isolate = c.isolation !== false;
  if (isolate) c.inputs.isolation ??= isolationBias(c.inputs.targets, dtype);
  const scene = (x: T) => rows(x, refs, groups);
  let out: T;
  if (!c.mutual) {
    const bias = isolate ? op.reshape(c.inputs.isolation!, [1, 1, s, s]) : undefined;
    out = biasedAttend(scene(c.q), scene(c.k), scene(c.v), c.heads, { bias, fp32: c.fp32 });
  } else {
    c.inputs.mutualBias ??= mutualBias(c.inputs, subjects, s, dtype, c.refLogitBias ?? IR_DEFAULTS.refLogitBias, isolate);
    const moved = repositionedStates(c, refs, s);
    const keys = op.concat([c.toK(moved), scene(c.k)], 1);
    const values = op.concat([c.toV(moved), scene(c.v)], 1);
    out = biasedAttend(scene(c.q), keys, values, c.heads, { bias: c.inputs.mutualBias, fp32: c.fp32 });
  }
  if (refs === 0) return out;
  const refOut = biasedAttend(rows(c.q, 0, refs), rows(c.k, 0, refs), rows(c.v, 0, refs), c.heads, { fp32: c.fp32 });
  return op.concat([refOut, out], 0);
}

/** [G, N·S, C]: each group's reference states, masked by S_i and moved into T_i's bbox. */
function repositionedStates(c: StorySelfAttention, refs: number, s: number): T {
  const { groups, subjects } = c.batch;
  const channels = c.hidden.dim(2);
  const stacked = op.reshape(rows(c.hidden, 0, refs), [groups, subjects * s, channels]);
  const gathered = op.gather(stacked, c.inputs.gather!, 1);
  return op.mul(gathered, op.reshape(op.cast(c.inputs.keys!, c.hidden.dtype), [1, subjects * s, 1]));
}

/** [1, 1, S, (N+1)·S]: reference segment i open where query ∈ dropout(T_i) and key ∈ relocated S_i; isolation on the scene segment. */
function mutualBias(inputs: GridInputs, subjects: number, s: number, dtype: DType, refLogitBias: number, isolate: boolean): T {
  const queries = op.reshape(op.transpose(inputs.queries!, [1, 0]), [s, subjects, 1]);
  const keys = op.reshape(inputs.keys!, [1, subjects, s]);
  const open = op.greater(op.reshape(op.mul(queries, keys), [s, subjects * s]), 0.5);
  const refSegments = op.where(open, constantLike(keys, dtype, refLogitBias), constantLike(keys, dtype, maskedLogit(dtype)));
  const own = isolate ? inputs.isolation! : op.expand(constantLike(keys, dtype, 0), [s, s]);
  return op.reshape(op.concat([refSegments, own], 1), [1, 1, s, (subjects + 1) * s]);
}

// ---- Masked mutual cross-attention ----------------------------------------------------------------

export interface StoryCrossAttention extends StoryAttentionLayer {
  /** The text of all rows [B, L, D]. */
  text: T;
  /** The model's own cross-attention output for all rows (after to_out). */
  plain: T;
  toQ: (x: T) => T;
  toK: (x: T) => T;
  toV: (x: T) => T;
  toOut: (x: T) => T;
  lambda?: number;
  /** Additive text key mask [B, 1, 1, L] of all rows, for models whose text has padding. */
  textBias?: T;
}

/** Cross-attention output [B, S, C]: reference rows as the model, scene rows blended with their references' text attention. */
export function storyCrossAttention(c: StoryCrossAttention): T {
  const { groups, subjects } = c.batch;
  const refs = groups * subjects;
  if (subjects === 0) return c.plain;
  const [s, channels] = [c.hidden.dim(1), c.plain.dim(2)];
  // The official code also masks the queries outside T_i here; their outputs are multiplied by 0 in
  // the blend, so the mask is left out (an all-masked row would be NaN in fp16).
  const q = c.toQ(rows(c.hidden, refs, groups));
  const perSubject = op.reshape(op.expand(op.unsqueeze(q, [1]), [groups, subjects, s, q.dim(2)]), [refs, s, q.dim(2)]);
  const text = rows(c.text, 0, refs);
  const mutual = c.toOut(biasedAttend(perSubject, c.toK(text), c.toV(text), c.heads, { fp32: c.fp32, bias: c.textBias && rows(c.textBias, 0, refs) }));
  const blended = blendMutual(rows(c.plain, refs, groups), op.reshape(mutual, [groups, subjects, s, channels]), c.inputs.targets, c.lambda ?? IR_DEFAULTS.crossAttentionLambda);
  return op.concat([rows(c.plain, 0, refs), blended], 0);
}

/** The official blend, term by term and in fp32 (its 1e-8 vanishes in fp16). */
function blendMutual(vanilla: T, mutual: T, targets: T, lambda: number): T {
  const f = (x: T) => op.cast(x, 'float32');
  const [subjects, s] = [targets.dim(0), targets.dim(1)];
  const v = f(vanilla);
  const weights = op.reshape(targets, [1, subjects, s, 1]);
  const area = op.reshape(op.reduceSum(targets, [0]), [1, s, 1]);
  const mean = op.div(op.reduceSum(op.mul(f(mutual), weights), [1], false), op.add(area, 1e-8));
  const unmasked = op.cast(op.equal(area, 0), 'float32');
  const masked = op.sub(1, unmasked);
  const out = op.add(op.add(op.mul(v, unmasked), op.mul(op.mul(v, masked), 1 - lambda)), op.mul(op.mul(mean, masked), lambda));
  return op.cast(out, vanilla.dtype);
}
