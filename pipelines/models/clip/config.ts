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

function activation(f: Fields, source: string): ClipActivation {
  const act = f.str('hidden_act', 'quick_gelu');
  const hiddenAct = ACTIVATIONS[act];
  if (!hiddenAct) throw new Error(`${source}: hidden_act "${act}" is not supported (supported: ${Object.keys(ACTIVATIONS).join(', ')})`);
  return hiddenAct;
}

/** CLIP vision tower hyper-parameters (HF's CLIPVisionConfig): the IP-Adapter image encoder. */
export interface ClipVisionConfig {
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  hiddenAct: ClipActivation;
  layerNormEps: number;
  imageSize: number;
  patchSize: number;
  /** Width of `visual_projection` (CLIPVisionModelWithProjection's `image_embeds`). */
  projectionDim: number;
}

/** Parses an HF `config.json` of a CLIPVisionModelWithProjection (or a full CLIPModel's vision part). */
export function clipVisionConfigFromHf(json: JsonObject, source: string): ClipVisionConfig {
  const obj = typeof json.vision_config === 'object' && json.vision_config !== null ? (json.vision_config as JsonObject) : json;
  const f = new Fields(obj, source);
  return {
    hiddenSize: f.int('hidden_size', 768),
    intermediateSize: f.int('intermediate_size', 3072),
    numLayers: f.int('num_hidden_layers', 12),
    numHeads: f.int('num_attention_heads', 12),
    hiddenAct: activation(f, source),
    layerNormEps: f.num('layer_norm_eps', 1e-5),
    imageSize: f.int('image_size', 224),
    patchSize: f.int('patch_size', 32),
    projectionDim: f.int('projection_dim', 512),
  };
}

/** Parses an HF `config.json` of a CLIPTextModel / CLIPTextModelWithProjection. */
export function clipTextConfigFromHf(json: JsonObject, source: string): ClipTextConfig {
  // A full CLIPModel config nests the text part.
  const obj = typeof json.text_config === 'object' && json.text_config !== null ? (json.text_config as JsonObject) : json;
  const f = new Fields(obj, source);
  const hiddenAct = activation(f, source);
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
