// The UNet graph's inputs (all float32), checked against the config before anything is built.
import type { Graph, T } from '../../onnx/graph.ts';
import { headWeightsInput, type HeadPerturbation } from '../../attention/head-perturbation.ts';
import type { SelfAttentionLayer } from '../../attention/self-attention.ts';
import type { UNetConfig } from './config.ts';

export interface UNetInputShape {
  batch: number;
  /** Latent size (image size / 8). */
  height: number;
  width: number;
  /** Text tokens per row: 77, or a multiple for prompts encoded in chunks. */
  textLength?: number;
  /** SDXL micro-conditioning values per row: 6 (sizes and crop), 5 for the refiner (aesthetic score). */
  timeIds?: number;
  /** Rows at the end of the batch that are the perturbed branch; adds the `head_weights` input. */
  perturbedRows?: number;
  /**
   * One graph for every latent size: `sample` is [batch, C, latent_height, latent_width], fixed when the session
   * runs (each side a multiple of 2^(levels − 1)); `height` and `width` are then only the size it is checked at.
   */
  symbolic?: boolean;
}

export const LATENT_HEIGHT = 'latent_height';
export const LATENT_WIDTH = 'latent_width';

export interface UNetInputs extends ConditioningInputs {
  sample: T;
}

/** What every part of the UNet takes beside its hidden states (the pieces of a split UNet each take them). */
export interface ConditioningInputs {
  timestep: T;
  text: T;
  textTime?: { textEmbeds: T; timeIds: T };
  perturbation?: HeadPerturbation;
}

export function declareUNetInputs(g: Graph, cfg: UNetConfig, layers: readonly SelfAttentionLayer[], o: UNetInputShape, file: string): UNetInputs {
  const conditioning = declareConditioningInputs(g, cfg, layers, o, file);
  return { sample: g.input('sample', 'float32', o.symbolic ? [o.batch, cfg.inChannels, LATENT_HEIGHT, LATENT_WIDTH] : [o.batch, cfg.inChannels, o.height, o.width]), ...conditioning };
}

export function declareConditioningInputs(g: Graph, cfg: UNetConfig, layers: readonly SelfAttentionLayer[], o: UNetInputShape, file: string): ConditioningInputs {
  const positive = (v: number) => Number.isInteger(v) && v >= 1;
  if (!positive(o.batch)) throw new Error(`UNet: batch ${o.batch} must be a positive integer`);
  if (!positive(o.height) || !positive(o.width)) throw new Error(`UNet: latent size ${o.height}×${o.width} must be positive integers (image size / 8)`);
  const textWidth = cfg.crossAttentionDim[0];
  if (cfg.crossAttentionDim.some((d) => d !== textWidth)) throw new Error(`${file}: UNets whose blocks take text of different widths are not supported`);
  const rows = o.perturbedRows ?? 0;
  if (!Number.isInteger(rows) || rows < 0 || rows > o.batch) throw new Error(`UNet: perturbedRows = ${rows} must be an integer between 0 and the batch size ${o.batch}`);

  const inputs: ConditioningInputs = {
    timestep: g.input('timestep', 'float32', [o.batch]),
    text: g.input('encoder_hidden_states', 'float32', [o.batch, o.textLength ?? 77, textWidth]),
  };
  if (cfg.textTime) {
    const count = o.timeIds ?? 6;
    const pooled = cfg.textTime.projectionInputDim - count * cfg.textTime.timeEmbedDim;
    if (pooled <= 0) throw new Error(`${file}: projection_class_embeddings_input_dim ${cfg.textTime.projectionInputDim} leaves no room for pooled text beside ${count} time ids × ${cfg.textTime.timeEmbedDim}`);
    inputs.textTime = { textEmbeds: g.input('text_embeds', 'float32', [o.batch, pooled]), timeIds: g.input('time_ids', 'float32', [o.batch, count]) };
  }
  if (rows > 0) inputs.perturbation = headWeightsInput(g, layers, rows);
  return inputs;
}
