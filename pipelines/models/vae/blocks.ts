// Building blocks of diffusers' AutoencoderKL: ResnetBlock2D without time embedding, the single-head
// spatial self-attention of the mid block, and the 2× down/up samplers. Norms are GroupNorm, eps 1e-6.
import type { T } from '../../onnx/graph.ts';
import * as op from '../../onnx/ops.ts';
import * as nn from '../../onnx/nn.ts';
import type { Weights } from '../../onnx/weights.ts';

export const VAE_NORM_EPS = 1e-6;

/** `fusedNorm`: GroupNorm+SiLU as the provider's one NHWC kernel (nn.groupNormSilu). */
export function resnetBlock(w: Weights, x: T, outChannels: number, groups: number, fusedNorm = false): T {
  let h = nn.groupNormSilu(w.sub('norm1'), x, groups, VAE_NORM_EPS, fusedNorm);
  h = nn.conv2d(w.sub('conv1'), h, { padding: 1 });
  h = nn.groupNormSilu(w.sub('norm2'), h, groups, VAE_NORM_EPS, fusedNorm);
  h = nn.conv2d(w.sub('conv2'), h, { padding: 1 });
  if (h.dim(1) !== outChannels) throw new Error(`${w.key('conv2.weight')}: ${h.dim(1)} output channels where the config implies ${outChannels}`);
  const shortcut = x.dim(1) === outChannels ? x : nn.conv2d(w.sub('conv_shortcut'), x);
  return op.add(shortcut, h);
}

// diffusers renamed the attention's tensors once; VAE folders converted before that keep the old names.
const CURRENT_NAMES = { q: 'to_q', k: 'to_k', v: 'to_v', out: 'to_out.0', norm: 'group_norm' };
const LEGACY_NAMES = { q: 'query', k: 'key', v: 'value', out: 'proj_attn', norm: 'group_norm' };

/**
 * Mid-block self-attention over all H·W positions with one head of width C. Original-layout
 * checkpoints store the projections as 1×1 convolutions [C, C, 1, 1]: they are reshaped in the graph.
 */
export function attentionBlock(w: Weights, x: T, groups: number, fusedNorm = false): T {
  const names = w.has('to_q.weight') ? CURRENT_NAMES : LEGACY_NAMES;
  const [b, c, height, width] = [x.shape[0], x.dim(1), x.dim(2), x.dim(3)];
  const batch = typeof b === 'number' ? b : 0;
  const normed = nn.groupNormAct(w.sub(names.norm), x, groups, VAE_NORM_EPS, { silu: false, fused: fusedNorm });
  const tokens = op.transpose(op.reshape(normed, [batch, c, height * width]), [0, 2, 1]);
  const project = (name: string) => {
    const weight = w.get(`${name}.weight`);
    const matrix = weight.rank === 4 ? op.reshape(weight, [c, c]) : weight;
    const y = op.matmul(tokens, op.transpose(matrix, [1, 0]));
    return w.has(`${name}.bias`) ? op.add(y, w.get(`${name}.bias`, [c])) : y;
  };
  const attended = op.multiHeadAttention(project(names.q), project(names.k), project(names.v), 1);
  const outWeight = w.get(`${names.out}.weight`);
  const outMatrix = outWeight.rank === 4 ? op.reshape(outWeight, [c, c]) : outWeight;
  let y = op.matmul(attended, op.transpose(outMatrix, [1, 0]));
  if (w.has(`${names.out}.bias`)) y = op.add(y, w.get(`${names.out}.bias`, [c]));
  const spatial = op.reshape(op.transpose(y, [0, 2, 1]), [batch, c, height, width]);
  return op.add(x, spatial);
}

/** Conv 3×3 stride 2 after padding one zero row/column at the bottom/right (diffusers' Downsample2D, padding 0). */
export function downsample(w: Weights, x: T): T {
  return nn.conv2d(w.sub('conv'), op.pad(x, [0, 0, 0, 0, 0, 0, 1, 1]), { stride: 2 });
}

export function upsample(w: Weights, x: T): T {
  return nn.conv2d(w.sub('conv'), op.upsampleNearest(x, 2), { padding: 1 });
}

export function midBlock(w: Weights, x: T, groups: number, withAttention: boolean, fusedNorm = false): T {
  const c = x.dim(1);
  let h = resnetBlock(w.sub('resnets.0'), x, c, groups, fusedNorm);
  if (withAttention) h = attentionBlock(w.sub('attentions.0'), h, groups, fusedNorm);
  return resnetBlock(w.sub('resnets.1'), h, c, groups, fusedNorm);
}
