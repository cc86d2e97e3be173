// MMDiT inputs: patches with a centre crop of the stored position grid, and the conditioning vector
// timestep embedding + pooled-text embedding (diffusers' PatchEmbed and CombinedTimestepTextProjEmbeddings).
import { GraphError, type T } from '../../onnx/graph.ts';
import * as nn from '../../onnx/nn.ts';
import * as op from '../../onnx/ops.ts';
import type { Weights } from '../../onnx/weights.ts';
import { mmditWidth, type MmditConfig } from './config.ts';

/** [B, C, H, W] latents → [B, rows·cols, width] tokens with position embeddings added. */
export function patchEmbed(w: Weights, x: T, cfg: MmditConfig): T {
  const p = cfg.patchSize;
  const d = mmditWidth(cfg);
  const [b, c, height, width] = x.shape.map((_, i) => x.dim(i));
  if (height % p || width % p) throw new GraphError(`MMDiT: latent ${height}×${width} is not divisible by patch_size ${p}`);
  const rows = height / p;
  const cols = width / p;
  const max = cfg.posEmbedMaxSize;
  if (rows > max || cols > max) {
    throw new GraphError(`MMDiT: a ${rows}×${cols} patch grid exceeds the model's position grid (${max}×${max}); use an image of at most ${max * p * 8} px per side`);
  }
  const patches = op.conv2d(x, w.get('proj.weight', [d, c, p, p]), w.get('proj.bias', [d]), { stride: p });
  const tokens = op.transpose(op.reshape(patches, [b, d, rows * cols]), [0, 2, 1]);
  const grid = op.reshape(w.get('pos_embed', [1, max * max, d]), [max, max, d]);
  const top = Math.floor((max - rows) / 2);
  const left = Math.floor((max - cols) / 2);
  const crop = op.slice(grid, [0, 1], [top, left], [top + rows, left + cols]);
  return op.add(tokens, op.reshape(crop, [1, rows * cols, d]));
}

/**
 * Timesteps (0–1000 float) [B] and pooled text [B, P] → the conditioning vector [B, width]; FLUX.1-dev adds
 * its guidance scale (×1000) [B] embedded the same way (diffusers' CombinedTimestepGuidanceTextProjEmbeddings).
 */
export function conditioning(w: Weights, t: T, pooled: T, guidance?: T): T {
  const mlp = (m: Weights, x: T) => nn.linear(m.sub('linear_2'), op.silu(nn.linear(m.sub('linear_1'), x)));
  const embed = (m: Weights, x: T) => mlp(m, op.cast(nn.timestepEmbedding(x, 256, { flipSinToCos: true, downscaleFreqShift: 0 }), w.dtype));
  const time = embed(w.sub('timestep_embedder'), t);
  return op.add(guidance ? op.add(time, embed(w.sub('guidance_embedder'), guidance)) : time, mlp(w.sub('text_embedder'), pooled));
}

/** adaLN: SiLU(c) → Linear → n chunks of [B, width]. */
export function modulation(w: Weights, c: T, n: number): T[] {
  return op.chunk(nn.linear(w.sub('linear'), op.silu(c), n * c.dim(-1)), n, 1);
}

/** LayerNorm without affine (eps 1e-6), then x·(1 + scale) + shift with [B, width] scale/shift. */
export function modulate(x: T, shift: T, scale: T): T {
  const normed = op.layerNorm(x, undefined, undefined, 1e-6);
  return modulated(normed, shift, scale);
}

export function modulated(normed: T, shift: T, scale: T): T {
  return op.add(op.mul(normed, op.add(op.unsqueeze(scale, [1]), 1)), op.unsqueeze(shift, [1]));
}
