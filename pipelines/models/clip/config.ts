// CLIP text transformer hyper-parameters, as HF's CLIPTextConfig names them.
import { Fields, type JsonObject } from '../../checkpoints/json-fields.ts';

export type ClipActivation = 'quick_gelu' | 'gelu' | 'gelu_tanh';

export interface ClipTextConfig {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  maxPositions: number;
  hiddenAct: ClipActivation;
  layerNormEps: number;
  /** Width of `text_projection` (CLIPTextModelWithProjection: SDXL's second encoder); absent without one. */
  projectionDim?: number;
}

const ACTIVATIONS: Record<string, ClipActivation> = {
  quick_gelu: 'quick_gelu',
  gelu: 'gelu',
  gelu_new: 'gelu_tanh',
  gelu_pytorch_tanh: 'gelu_tanh',
};

/** Parses an HF `config.json` of a CLIPTextModel / CLIPTextModelWithProjection. */
export function clipTextConfigFromHf(json: JsonObject, source: string): ClipTextConfig {
  // A full CLIPModel config nests the text part.
  const obj = typeof json.text_config === 'object' && json.text_config !== null ? (json.text_config as JsonObject) : json;
  const f = new Fields(obj, source);
  const act = f.str('hidden_act', 'quick_gelu');
  const hiddenAct = ACTIVATIONS[act];
  if (!hiddenAct) throw new Error(`${source}: hidden_act "${act}" is not supported (supported: ${Object.keys(ACTIVATIONS).join(', ')})`);
  const architectures = Array.isArray(json.architectures) ? json.architectures : [];
  const withProjection = architectures.includes('CLIPTextModelWithProjection');
  return {
    vocabSize: f.int('vocab_size', 49408),
    hiddenSize: f.int('hidden_size', 512),
    intermediateSize: f.int('intermediate_size', 2048),
    numLayers: f.int('num_hidden_layers', 12),
    numHeads: f.int('num_attention_heads', 8),
    maxPositions: f.int('max_position_embeddings', 77),
    hiddenAct,
    layerNormEps: f.num('layer_norm_eps', 1e-5),
    projectionDim: withProjection ? f.int('projection_dim', 512) : undefined,
  };
}
