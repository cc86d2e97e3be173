// LinFusion (Liu et al. 2024): every listed attn1 is replaced by its own distilled module, a
// normalised non-causal linear attention (research/seed-linear.md §1.2):
//   Q = W_q(x + MLP_q(x)), K = W_k(x + MLP_k(x)), V = W_v x, φ(u) = elu(u) + 1,
//   O = φ(Q)·S / (φ(Q)·mean_j φ(K_j) + 1e-4),  S = (φ(K)ᵀ/√N)(V/√N),
// with S and the normaliser in fp32 (fp16 overflows at high resolution).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SafetensorsFile } from '../io/safetensors.ts';
import type { T } from '../onnx/graph.ts';
import * as nn from '../onnx/nn.ts';
import * as op from '../onnx/ops.ts';
import { Weights } from '../onnx/weights.ts';
import { rows, type SelfAttentionCall, type SelfAttentionLayer, type SelfAttentionResult, type SelfAttentionVariant } from './self-attention.ts';
import { softmaxResult } from './softmax.ts';
import { singlePhase, type AttentionPlugin } from './plugin.ts';

const EPS = 1e-4;
const LEAKY_SLOPE = 0.01;
const MLP_NORM_EPS = 1e-5;

export interface LinFusionModule {
  /** Position in `modules_list`: the tensor prefix `{index}.` in the safetensors file. */
  index: number;
  moduleName: string;
  channels: number;
  heads: number;
  /** Width of the MLP branches; `undefined` = no MLP (`projection_mid_dim` = -1). */
  midDim?: number;
}

export class LinFusionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LinFusionError';
  }
}

export class LinFusionModules {
  private constructor(readonly configPath: string, readonly file: SafetensorsFile, readonly modules: ReadonlyMap<string, LinFusionModule>) {}

  /** From a LinFusion folder (config.json + diffusion_pytorch_model.safetensors) or its safetensors file. */
  static load(path: string): LinFusionModules {
    const isDir = existsSync(path) && statSync(path).isDirectory();
    const dir = isDir ? path : dirname(path);
    const configPath = join(dir, 'config.json');
    const weightsPath = isDir ? join(dir, 'diffusion_pytorch_model.safetensors') : path;
    if (!existsSync(configPath)) throw new LinFusionError(`${configPath}: missing; a LinFusion model is a folder with config.json and diffusion_pytorch_model.safetensors`);
    if (!existsSync(weightsPath)) throw new LinFusionError(`${weightsPath}: missing; a LinFusion model is a folder with config.json and diffusion_pytorch_model.safetensors`);
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(configPath, 'utf8'));
    } catch (e) {
      throw new LinFusionError(`${configPath}: not valid JSON (${(e as Error).message})`);
    }
    const list = (raw as { modules_list?: unknown })?.modules_list;
    if (!Array.isArray(list) || list.length === 0) throw new LinFusionError(`${configPath}: no "modules_list": not a LinFusion config`);
    const modules = new Map<string, LinFusionModule>();
    list.forEach((entry, index) => {
      const e = entry as Record<string, unknown>;
      const bad = (what: string) => new LinFusionError(`${configPath}: modules_list[${index}] ${what}`);
      if (typeof e?.module_name !== 'string') throw bad('has no "module_name"');
      if (!Number.isInteger(e.dim_n) || !Number.isInteger(e.heads)) throw bad('needs integer "dim_n" and "heads"');
      const mid = e.projection_mid_dim;
      if (mid !== null && mid !== undefined && !Number.isInteger(mid)) throw bad('has a non-integer "projection_mid_dim"');
      const channels = e.dim_n as number;
      modules.set(e.module_name, {
        index,
        moduleName: e.module_name,
        channels,
        heads: e.heads as number,
        midDim: mid === -1 ? undefined : ((mid as number | null | undefined) ?? channels),
      });
    });
    return new LinFusionModules(configPath, SafetensorsFile.open(weightsPath), modules);
  }

  /** Throws unless every module mounts on a self-attention layer of the same width and head count. */
  checkFits(layers: readonly SelfAttentionLayer[]): void {
    const byName = new Map(layers.map((l) => [l.name, l]));
    for (const m of this.modules.values()) {
      const layer = byName.get(m.moduleName);
      if (!layer) {
        throw new LinFusionError(`${this.configPath}: module "${m.moduleName}" has no matching self-attention layer in this UNet: the LinFusion file is for another model (use the LinFusion release made for this model's family)`);
      }
      if (layer.channels !== m.channels || layer.heads !== m.heads) {
        throw new LinFusionError(`${this.configPath}: module "${m.moduleName}" is ${m.channels} wide with ${m.heads} heads but the UNet layer is ${layer.channels} wide with ${layer.heads} heads: the LinFusion file is for another model`);
      }
    }
  }
}

/** LinFusion on the layers its file lists; other layers keep `fallback` (softmax). */
export function linfusionAttention(mods: LinFusionModules, fallback: (c: SelfAttentionCall) => SelfAttentionResult = softmaxResult): SelfAttentionVariant {
  return {
    kind: 'linfusion',
    prepare: (layers) => mods.checkFits(layers),
    apply: (c) => {
      const m = mods.modules.get(c.layer.name);
      if (!m) return fallback(c);
      return linfusionResult(new Weights(c.hidden.graph, mods.file, c.weights.dtype, String(m.index)), m, c.hidden, c.pieces);
    },
  };
}

/** LinFusion as a plug-in: the modules are read when the graph is built. */
export const linfusionPlugin: AttentionPlugin<{ kind: 'linfusion'; path: string }> = {
  id: 'linfusion',
  families: ['sd1', 'sd2', 'sdxl'],
  layers: 'the self-attention layers its module file lists; others stay softmax',
  start: (request) => singlePhase(`linfusion:${request.path}`, () => linfusionAttention(LinFusionModules.load(request.path))),
};

function residualMlp(w: Weights, x: T, midDim: number | undefined): T {
  if (midDim === undefined) return x;
  const channels = x.dim(-1);
  let h = nn.linear(w.sub('0'), x, midDim);
  h = op.leakyRelu(nn.layerNorm(w.sub('1'), h, MLP_NORM_EPS), LEAKY_SLOPE);
  return op.add(x, nn.linear(w.sub('3'), h, channels));
}

function linfusionResult(w: Weights, m: LinFusionModule, x: T, pieces = 1): SelfAttentionResult {
  const [batch, channels] = [x.dim(0), x.dim(2)];
  const d = channels / m.heads;
  const q = nn.linear(w.sub('to_q'), residualMlp(w.sub('to_q_'), x, m.midDim), channels);
  const k = nn.linear(w.sub('to_k'), residualMlp(w.sub('to_k_'), x, m.midDim), channels);
  const v = nn.linear(w.sub('to_v'), x, channels);
  // [B, N, C] → [B·heads, N, d]: the fp32 features are made per group of (row × head), `pieces` groups in turn.
  const perHead = (t: T) => op.reshape(op.transpose(op.reshape(t, [batch, -1, m.heads, d]), [0, 2, 1, 3]), [batch * m.heads, -1, d]);
  const o = op.inPieces([perHead(q), perHead(k), perHead(v)], 0, pieces, ([qp, kp, vp]) => op.cast(linearAttention(qp, kp, vp), x.dtype));
  const heads = op.reshape(op.transpose(op.reshape(o, [batch, m.heads, -1, d]), [0, 2, 1, 3]), [batch, -1, channels]);
  return {
    heads,
    value: (start, count) => rows(v, start, count),
    project: (t) => nn.linear(w.sub('to_out.0'), t, channels),
  };
}

/**
 * O = φ(Q)·S / (φ(Q)·mean_j φ(K_j) + ε) on [G, N, d], in fp32: S and the normaliser are sums over all N tokens,
 * which fp16 accumulates too coarsely (and overflows) at high resolution. LinFusion's (K/√N)ᵀ(V/√N) is computed as
 * (KᵀV)/N on the small [G, d, d] state, so no scaled copy of K or V is made and the transpose folds into the
 * MatMul (ORT fuses Transpose+MatMul into one transposed GEMM): two fp32 [G, N, d] tensors fewer per layer.
 */
function linearAttention(q: T, k: T, v: T): T {
  const phi = (t: T) => op.add(op.elu(op.cast(t, 'float32')), 1);
  const kf = phi(k);
  // 1/N: a constant, or read at run time when the token count is symbolic.
  const tokens = q.shape[1];
  const inverse = typeof tokens === 'number' ? op.floats(kf, [1 / tokens], [1, 1]) : op.reshape(op.reciprocal(op.cast(tokenCount(q), 'float32')), [1, 1]);
  const kMean = op.transpose(tokenMean(kf, inverse), [0, 2, 1]);
  const state = op.mul(op.matmul(op.transpose(kf, [0, 2, 1]), op.cast(v, 'float32')), inverse);
  const qf = phi(q);
  const z = op.add(op.matmul(qf, kMean), EPS);
  return op.div(op.matmul(qf, state), z);
}

/** [G, N, …] → [1] int64: the token count N of a graph with symbolic sizes. */
const tokenCount = (x: T) => op.gather(op.shapeOf(x), op.int64s(x, [1]));

/**
 * mean_j x_j of x [G, N, d] as [G, 1, d]: a row of 1/N times x, one batched GEMM that reads x once. ORT's CUDA
 * ReduceMean over this middle axis took ~2.5 ms per layer at 65536 tokens (bench/NOTES.md, s6-c's profile),
 * where one pass over x is ~0.05 ms.
 */
function tokenMean(x: T, inverse: T): T {
  const tokens = x.shape[1];
  const row = typeof tokens === 'number'
    ? op.expand(inverse, [1, tokens])
    : x.graph.node('Expand', [inverse, op.concat([op.int64s(x, [1]), tokenCount(x)], 0)], [{ dtype: 'float32', shape: [1, tokens] }])[0];
  return op.matmul(row, x);
}
