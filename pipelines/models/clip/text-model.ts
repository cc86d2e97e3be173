// CLIP text transformer (HF CLIPTextModel / CLIPTextModelWithProjection) as a graph: token + position
// embeddings, pre-LN causal transformer layers, final LayerNorm, pooled output at the EOS token.
//
// Tensor names are HF's (with or without the `text_model.` prefix, which transformers 5 drops for
// CLIPTextModel). OpenCLIP checkpoints, renamed by pipelines/checkpoints, bring two layouts of their
// own that are handled here because they are not mere renames:
//   - `encoder.layers.N.self_attn.in_proj_weight` / `in_proj_bias`: q, k and v stacked [3·H, H];
//   - `text_projection` (no `.weight`): a [H, P] matrix applied as x·P, where HF stores the transpose.
import { Graph, type DType, type T } from '../../onnx/graph.ts';
import * as op from '../../onnx/ops.ts';
import * as nn from '../../onnx/nn.ts';
import { Weights, type TensorSource } from '../../onnx/weights.ts';
import type { ClipTextConfig } from './config.ts';

export interface ClipTextRequest {
  /**
   * How many final layers to leave out of the prompt embedding (diffusers' `clip_skip`; A1111's
   * "Clip skip: 2" is 1 here). 0 takes the last layer.
   */
  skip?: number;
  /** Apply the final LayerNorm to the chosen layer (SD 1.x/2.x: yes; SDXL's penultimate layer: no). */
  normalize?: boolean;
  /** Also compute the pooled output (and its projection when the model has one); needs every layer. */
  pooled?: boolean;
  /**
   * Rows appended to the token table (textual-inversion vectors, [rows, hidden] row-major): ids from
   * the vocabulary size on look them up. The pooled output then finds EOS by its id, not as the largest.
   */
  extraTokens?: Float32Array;
}

export interface ClipTextValues {
  /** [B, S, H]: the chosen layer's hidden states. */
  hidden: T;
  /** [B, H]: final-LayerNorm'd last layer at the EOS token. */
  pooled?: T;
  /** [B, P]: `pooled` through `text_projection` (CLIPTextModelWithProjection's `text_embeds`). */
  textEmbeds?: T;
}

/** The Weights view whose children are `embeddings`, `encoder`, `final_layer_norm`. */
export function clipTextRoot(w: Weights): Weights {
  return w.has('text_model.embeddings.token_embedding.weight') ? w.sub('text_model') : w;
}

export function clipTextModel(w: Weights, ids: T, cfg: ClipTextConfig, req: ClipTextRequest = {}): ClipTextValues {
  const skip = req.skip ?? 0;
  if (!Number.isInteger(skip) || skip < 0 || skip >= cfg.numLayers) {
    throw new RangeError(`clip skip ${skip} is out of range: this text encoder has ${cfg.numLayers} layers`);
  }
  const seq = ids.dim(1);
  if (seq > cfg.maxPositions) throw new RangeError(`${seq} tokens exceed the text encoder's ${cfg.maxPositions} positions`);
  const root = clipTextRoot(w);
  const g = ids.graph;
  const x0 = g.scope('embeddings', () => embeddings(root.sub('embeddings'), ids, cfg, req.extraTokens));
  const bias = causalBias(x0, seq);
  const chosenLayer = cfg.numLayers - skip;
  const layersToRun = req.pooled ? cfg.numLayers : chosenLayer;
  let x = x0;
  let chosen = x0;
  for (let i = 0; i < layersToRun; i++) {
    x = g.scope(`layer${i}`, () => encoderLayer(root.sub(`encoder.layers.${i}`), x, bias, cfg));
    if (i === chosenLayer - 1) chosen = x;
  }
  const finalNorm = (t: T) => nn.layerNorm(root.sub('final_layer_norm'), t, cfg.layerNormEps);
  const hidden = req.normalize === false ? chosen : finalNorm(chosen);
  if (!req.pooled) return { hidden };
  const pooled = atEos(skip === 0 && req.normalize !== false ? hidden : finalNorm(x), ids, req.extraTokens ? cfg.vocabSize - 1 : undefined);
  return { hidden, pooled, textEmbeds: cfg.projectionDim !== undefined ? project(w, pooled, cfg) : undefined };
}

function embeddings(w: Weights, ids: T, cfg: ClipTextConfig, extra?: Float32Array): T {
  const h = cfg.hiddenSize;
  const vocab = w.get('token_embedding.weight', [cfg.vocabSize, h]);
  const rows = extra ? extra.length / h : 0;
  const tokenTable = extra ? op.concat([vocab, op.cast(ids.graph.constant('float32', [rows, h], extra, 'extra_tokens'), vocab.dtype)], 0) : vocab;
  const tokens = op.gather(tokenTable, ids);
  const table = w.get('position_embedding.weight', [cfg.maxPositions, h]);
  const positions = ids.dim(1) === cfg.maxPositions ? table : op.slice(table, [0], [0], [ids.dim(1)]);
  return op.add(tokens, positions);
}

/** [1, 1, S, S]: 0 where a token may attend (itself and earlier ones), a large negative number after. */
function causalBias(like: T, seq: number): T {
  const blocked = like.dtype === 'float16' ? -65504 : -1e9;
  const values = new Float32Array(seq * seq);
  for (let i = 0; i < seq; i++) for (let j = i + 1; j < seq; j++) values[i * seq + j] = blocked;
  return op.floats(like, Array.from(values), [1, 1, seq, seq]);
}

/** The transformer layer widths both CLIP towers (text and vision) share. */
export type ClipLayerConfig = Pick<ClipTextConfig, 'hiddenSize' | 'intermediateSize' | 'numHeads' | 'hiddenAct' | 'layerNormEps'>;

/** One pre-LN CLIP encoder layer; `bias` masks attention (the text tower's causal mask), none for images. */
export function encoderLayer(w: Weights, x: T, bias: T | undefined, cfg: ClipLayerConfig): T {
  const attn = selfAttention(w.sub('self_attn'), nn.layerNorm(w.sub('layer_norm1'), x, cfg.layerNormEps), bias, cfg);
  const h = op.add(x, attn);
  return op.add(h, mlp(w.sub('mlp'), nn.layerNorm(w.sub('layer_norm2'), h, cfg.layerNormEps), cfg));
}

function selfAttention(w: Weights, x: T, bias: T | undefined, cfg: ClipLayerConfig): T {
  const [q, k, v] = projectQkv(w, x, cfg.hiddenSize);
  const y = op.multiHeadAttention(q, k, v, cfg.numHeads, { attentionBias: bias });
  return nn.linear(w.sub('out_proj'), y, cfg.hiddenSize);
}

function projectQkv(w: Weights, x: T, width: number): T[] {
  if (!w.has('in_proj_weight')) return ['q_proj', 'k_proj', 'v_proj'].map((n) => nn.linear(w.sub(n), x, width));
  const weight = op.transpose(w.get('in_proj_weight', [3 * width, width]), [1, 0]);
  const stacked = op.matmul(x, weight);
  const withBias = w.has('in_proj_bias') ? op.add(stacked, w.get('in_proj_bias', [3 * width])) : stacked;
  return op.split(withBias, -1, [width, width, width]);
}

function mlp(w: Weights, x: T, cfg: ClipLayerConfig): T {
  const h = nn.linear(w.sub('fc1'), x, cfg.intermediateSize);
  const act = cfg.hiddenAct === 'quick_gelu' ? op.quickGelu(h) : op.gelu(h, cfg.hiddenAct === 'gelu_tanh' ? 'tanh' : 'none');
  return nn.linear(w.sub('fc2'), act, cfg.hiddenSize);
}

/**
 * Hidden states at the first position holding the largest id, as HF and OpenCLIP pool: the EOS token
 * has the largest id in the CLIP vocabulary. A one-hot MatMul keeps to ops every provider runs.
 */
/** The hidden state at the first EOS: the largest id, or the first equal to `eosId` when ids go beyond it. */
function atEos(hidden: T, ids: T, eosId?: number): T {
  const seq = ids.dim(1);
  const eos = op.argMax(eosId === undefined ? ids : op.cast(op.equal(ids, eosId), 'int32'), 1, true);
  const positions = hidden.graph.constant('int64', [1, seq], BigInt64Array.from({ length: seq }, (_, i) => BigInt(i)), 'positions');
  const oneHot = op.unsqueeze(op.cast(op.equal(positions, eos), hidden.dtype), [1]);
  return op.squeeze(op.matmul(oneHot, hidden), [1]);
}

function project(w: Weights, pooled: T, cfg: ClipTextConfig): T {
  const p = cfg.projectionDim!;
  if (w.has('text_projection.weight')) return op.matmul(pooled, w.linear('text_projection.weight', p, cfg.hiddenSize));
  return op.matmul(pooled, w.get('text_projection', [cfg.hiddenSize, p]));
}

export interface ClipGraphOptions extends ClipTextRequest {
  /** Compute dtype of the graph; inputs and outputs stay int32 / float32. */
  dtype?: DType;
  /** Tokens per sequence (default: the model's positions, 77). The batch is left free. */
  seqLen?: number;
  name?: string;
}

/** Graph with input `input_ids` int32 [batch, S] and outputs `hidden_state` (+ `pooled_output`, `text_embeds`), float32. */
export function buildClipTextGraph(source: TensorSource, cfg: ClipTextConfig, o: ClipGraphOptions = {}): Graph {
  const g = new Graph(o.name ?? 'clip_text');
  const ids = g.input('input_ids', 'int32', ['batch', o.seqLen ?? cfg.maxPositions]);
  const v = clipTextModel(new Weights(g, source, o.dtype ?? 'float32'), ids, cfg, o);
  g.output(op.cast(v.hidden, 'float32'), 'hidden_state');
  if (v.pooled) g.output(op.cast(v.pooled, 'float32'), 'pooled_output');
  if (v.textEmbeds) g.output(op.cast(v.textEmbeds, 'float32'), 'text_embeds');
  return g;
}
