// The contract between a model's transformer blocks and the self-attention variants (softmax,
// LinFusion, AgentSD, identity), chosen when the graph is built. A variant returns the per-head output
// *before* the output projection, plus that layer's V, so head perturbation (`(1-u)·out + u·V` per head)
// works the same on every variant.
import type { T } from '../onnx/graph.ts';
import * as op from '../onnx/ops.ts';
import type { Weights } from '../onnx/weights.ts';

export interface SelfAttentionLayer {
  /** Position in the model's execution order: the index head weights and presets use. */
  index: number;
  /** diffusers module name, e.g. `down_blocks.1.attentions.0.transformer_blocks.0.attn1`. */
  name: string;
  heads: number;
  channels: number;
  /** Spatial downsampling of this layer relative to the latent (1 = full resolution). */
  downsample: number;
}

export interface SelfAttentionCall {
  layer: SelfAttentionLayer;
  /** The model's own attn1 weights (`to_q`, `to_k`, `to_v`, `to_out.0`). */
  weights: Weights;
  /** Normalised hidden states [B, N, C], the attention's input. */
  hidden: T;
  /** The transformer block's input before its norm [B, N, C] (AgentSD merges tokens by it). */
  blockInput: T;
  /** Token grid of this layer (N = height·width) and of the full-resolution latent. */
  grid: { height: number; width: number };
  latent: { height: number; width: number };
  /** Softmax in fp32 when the graph computes in fp16 (SD 2.x `upcast_attention`). */
  upcast: boolean;
  /** Groups of (batch row × head) to compute one after another where the variant can (LinFusion); default 1. */
  pieces?: number;
}

export interface SelfAttentionResult {
  /** [B, N, C] before the output projection; head h is channels [h·d, (h+1)·d). */
  heads: T;
  /** V of batch rows [start, start + count) in the same layout: the PAG identity target. */
  value(start: number, count: number): T;
  /** The output projection (`to_out.0`, Linear with bias). */
  project(o: T): T;
}

export interface SelfAttentionVariant {
  readonly kind: string;
  /** Called once with the model's layer list before any layer is built (validation, inputs). */
  prepare?(layers: readonly SelfAttentionLayer[]): void;
  apply(call: SelfAttentionCall): SelfAttentionResult;
}

/** Batch rows [start, start + count) of a [B, ...] value. */
export const rows = (x: T, start: number, count: number): T =>
  start === 0 && count === x.dim(0) ? x : op.slice(x, [0], [start], [start + count]);
