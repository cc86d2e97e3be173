// The SD3 / SD3.5 MMDiT (diffusers' SD3Transformer2DModel): patchify → joint blocks over image and
// text tokens → continuous adaLN → unpatchify. Predicts the flow velocity.
import { Graph, type T } from '../../onnx/graph.ts';
import * as nn from '../../onnx/nn.ts';
import * as op from '../../onnx/ops.ts';
import { Weights, type TensorSource } from '../../onnx/weights.ts';
import { headWeightsInput, type HeadPerturbation } from '../../attention/head-perturbation.ts';
import type { SelfAttentionLayer } from '../../attention/self-attention.ts';
import { unpatchify } from '../dit/model.ts';
import type { TextLatentGraphShape } from '../text-latent-graph.ts';
import { jointBlock, type BlockAttention } from './block.ts';
import { mmditWidth, type MmditConfig } from './config.ts';
import { conditioning, modulate, modulation, patchEmbed } from './embeddings.ts';

export const MMDIT_OUTPUT = 'out';

/**
 * The attention layers head guidance addresses, in execution order: block i's joint `attn`, then its
 * `attn2` on dual-attention blocks. Head h is channels [h·d, (h+1)·d) of the q/k/v projections.
 */
export function mmditAttentionLayers(cfg: MmditConfig): SelfAttentionLayer[] {
  const layers: SelfAttentionLayer[] = [];
  const add = (name: string) => layers.push({ index: layers.length, name, heads: cfg.heads, channels: mmditWidth(cfg), downsample: 1 });
  for (let i = 0; i < cfg.numLayers; i++) {
    add(`transformer_blocks.${i}.attn`);
    if (cfg.dualAttentionLayers.includes(i)) add(`transformer_blocks.${i}.attn2`);
  }
  return layers;
}

/** x [B, C, H, W], context [B, L, joint_attention_dim], pooled [B, P], t [B] (0–1000) → velocity [B, C_out, H, W]. */
export function mmditForward(w: Weights, cfg: MmditConfig, x: T, context: T, pooled: T, t: T, perturbation?: HeadPerturbation): T {
  const p = cfg.patchSize;
  const [rows, cols] = [x.dim(2) / p, x.dim(3) / p];
  let image = patchEmbed(w.sub('pos_embed'), x, cfg);
  let text = nn.linear(w.sub('context_embedder'), context, mmditWidth(cfg));
  const c = conditioning(w.sub('time_text_embed'), t, pooled);
  const layers = mmditAttentionLayers(cfg);
  const qkNorm = cfg.qkNorm;
  let next = 0;
  for (let i = 0; i < cfg.numLayers; i++) {
    const a: BlockAttention = { attn: { layer: layers[next++], qkNorm, perturbation } };
    if (cfg.dualAttentionLayers.includes(i)) a.attn2 = { layer: layers[next++], qkNorm, perturbation };
    ({ image, text } = x.graph.scope(`block${i}`, () => jointBlock(w.sub(`transformer_blocks.${i}`), image, text, c, a, i === cfg.numLayers - 1)));
  }
  const [scale, shift] = modulation(w.sub('norm_out'), c, 2);
  const out = nn.linear(w.sub('proj_out'), modulate(image, shift, scale), p * p * cfg.outChannels);
  return unpatchify(out, rows, cols, p, cfg.outChannels);
}

export interface MmditGraphOptions extends TextLatentGraphShape {
  /** The last `perturbedRows` rows of the batch get head perturbation from a `head_weights` input. */
  perturbedRows?: number;
}

/** Inputs hidden_states, encoder_hidden_states, pooled_projections, timestep (+ head_weights), float32 → `out`. */
export function buildMmditGraph(source: TensorSource, cfg: MmditConfig, o: MmditGraphOptions): Graph {
  const dtype = o.dtype ?? 'float32';
  const g = new Graph('mmdit');
  const x = g.input('hidden_states', 'float32', [o.batch, cfg.inChannels, o.height, o.width]);
  const context = g.input('encoder_hidden_states', 'float32', [o.batch, o.textLength, cfg.jointAttentionDim]);
  const pooled = g.input('pooled_projections', 'float32', [o.batch, cfg.pooledProjectionDim]);
  const t = g.input('timestep', 'float32', [o.batch]);
  const perturbation = o.perturbedRows ? headWeightsInput(g, mmditAttentionLayers(cfg), o.perturbedRows) : undefined;
  const w = new Weights(g, source, dtype);
  const out = mmditForward(w, cfg, op.cast(x, dtype), op.cast(context, dtype), op.cast(pooled, dtype), t, perturbation);
  g.output(op.cast(out, 'float32'), MMDIT_OUTPUT);
  return g;
}
