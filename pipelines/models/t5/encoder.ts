// The T5 encoder stack (HF T5EncoderModel) as a graph: token embedding, pre-RMSNorm blocks of
// unscaled self-attention with a shared relative-position bias and a (gated) feed-forward, final RMSNorm.
// In fp16 it follows transformers' safeguards: RMSNorm statistics and the `wo` projection in fp32, and
// hidden states clamped to ±(65504 − 1000) after every residual add (T5 activations overflow fp16).
import { Graph, type DType, type T } from '../../onnx/graph.ts';
import * as op from '../../onnx/ops.ts';
import { rmsNorm } from '../../onnx/nn.ts';
import { Weights, type TensorSource } from '../../onnx/weights.ts';
import type { T5Config } from './config.ts';
import { bucketTable } from './relative-position.ts';

const FP16_CLAMP = 65504 - 1000;

const clampFp16 = (x: T) => (x.dtype === 'float16' ? op.clip(x, -FP16_CLAMP, FP16_CLAMP) : x);

/** [1, heads, S, S] additive bias from block 0's relative_attention_bias table. */
function positionBias(w: Weights, seq: number, cfg: T5Config, like: T): T {
  const table = w.get('block.0.layer.0.SelfAttention.relative_attention_bias.weight', [cfg.buckets, cfg.numHeads]);
  const index = like.graph.constant('int64', [seq, seq], BigInt64Array.from(bucketTable(seq, cfg.buckets, cfg.maxDistance).map(BigInt)), 'relative_buckets');
  return op.unsqueeze(op.transpose(op.gather(table, index, 0), [2, 0, 1]), [0]);
}

function selfAttention(w: Weights, x: T, bias: T, cfg: T5Config): T {
  const inner = cfg.numHeads * cfg.dKv;
  const proj = (n: string) => op.matmul(x, w.linear(`${n}.weight`, inner, cfg.dModel));
  // T5 folds 1/sqrt(d) into its initialisation: the scores are not scaled.
  const y = op.multiHeadAttention(proj('q'), proj('k'), proj('v'), cfg.numHeads, { attentionBias: bias, scale: 1 });
  return op.matmul(y, w.linear('o.weight', cfg.dModel, inner));
}

function feedForward(w: Weights, x: T, cfg: T5Config): T {
  const act = (t: T) => (cfg.activation === 'relu' ? op.relu(t) : op.gelu(t, 'tanh'));
  const up = (n: string) => op.matmul(x, w.linear(`${n}.weight`, cfg.dFf, cfg.dModel));
  const h = cfg.gated ? op.mul(act(up('wi_0')), up('wi_1')) : act(up('wi'));
  // transformers keeps `wo` in fp32 for fp16 models (its outputs overflow fp16 otherwise).
  const wo = op.cast(w.linear('wo.weight', cfg.dModel, cfg.dFf), 'float32');
  return op.cast(op.matmul(op.cast(h, 'float32'), wo), x.dtype);
}

/** Encoder hidden states [B, S, d_model] for token ids [B, S]; `mask` [B, S] (1 = token) hides padding from attention. */
export function t5Encoder(w: Weights, ids: T, cfg: T5Config, mask?: T): T {
  const seq = ids.dim(1);
  const embedding = w.has('shared.weight') ? 'shared.weight' : 'encoder.embed_tokens.weight';
  const enc = w.sub('encoder');
  let x = op.gather(w.get(embedding, [cfg.vocabSize, cfg.dModel]), ids, 0);
  let bias = positionBias(enc, seq, cfg, x);
  if (mask) {
    // transformers adds dtype-min to masked keys; -1e9 in fp32 / -65504 in fp16 gives the same softmax.
    const blocked = op.mul(op.sub(1, op.cast(mask, x.dtype)), x.dtype === 'float16' ? -65504 : -1e9);
    bias = op.add(bias, op.unsqueeze(blocked, [1, 2]));
  }
  for (let i = 0; i < cfg.numLayers; i++) {
    const b = enc.sub(`block.${i}.layer`);
    x = x.graph.scope(`t5_block${i}`, () => {
      const a = selfAttention(b.sub('0.SelfAttention'), rmsNorm(b.get('0.layer_norm.weight', [cfg.dModel]), x, cfg.eps), bias, cfg);
      const h = clampFp16(op.add(x, a));
      const f = feedForward(b.sub('1.DenseReluDense'), rmsNorm(b.get('1.layer_norm.weight', [cfg.dModel]), h, cfg.eps), cfg);
      return clampFp16(op.add(h, f));
    });
  }
  return rmsNorm(enc.get('final_layer_norm.weight', [cfg.dModel]), x, cfg.eps);
}

export interface T5GraphOptions {
  seqLen: number;
  dtype?: DType;
  /** Add an `attention_mask` int32 [B, S] input (PixArt masks padding; SD3 does not). */
  masked?: boolean;
}

/** Graph: `input_ids` int32 [batch, S] (+ `attention_mask`) → `hidden_state` float32 [batch, S, d_model]. */
export function buildT5Graph(source: TensorSource, cfg: T5Config, o: T5GraphOptions): Graph {
  const g = new Graph('t5_encoder');
  const ids = g.input('input_ids', 'int32', ['batch', o.seqLen]);
  const mask = o.masked ? g.input('attention_mask', 'int32', ['batch', o.seqLen]) : undefined;
  const hidden = t5Encoder(new Weights(g, source, o.dtype ?? 'float32'), ids, cfg, mask);
  g.output(op.cast(hidden, 'float32'), 'hidden_state');
  return g;
}
