// FLUX.1 transformer hyper-parameters, as diffusers' FluxTransformer2DModel config names them, and the
// same read from the tensors of a file that brings no config (Black Forest Labs' single files).
import { Fields, type JsonObject } from '../../checkpoints/json-fields.ts';
import { shapeOf, countIndexed } from '../../checkpoints/sources.ts';
import type { TensorSource } from '../../onnx/weights.ts';

export interface FluxConfig {
  /** Channels of a packed token: the VAE's 16 latent channels × a 2×2 patch. */
  inChannels: number;
  outChannels: number;
  /** Double-stream blocks (separate image and text weights, joint attention). */
  numLayers: number;
  /** Single-stream blocks (one sequence, parallel attention and MLP). */
  numSingleLayers: number;
  headDim: number;
  heads: number;
  /** Width of the T5 features fed in. */
  jointAttentionDim: number;
  /** Width of CLIP-L's pooled vector. */
  pooledProjectionDim: number;
  /** FLUX.1-dev: the guidance scale is an input (guidance-distilled); schnell has no guidance embedding. */
  guidanceEmbeds: boolean;
  /** RoPE channels per position axis (text index, row, column); they add up to the head width. */
  axesDimsRope: readonly number[];
}

export const fluxWidth = (c: FluxConfig): number => c.heads * c.headDim;

/** FLUX.1's RoPE axes: not stored in the weights. */
export const FLUX1_ROPE_AXES = [16, 56, 56] as const;

function checked(c: FluxConfig, source: string): FluxConfig {
  if (c.inChannels % 4) throw new Error(`${source}: in_channels ${c.inChannels} is not a 2×2 packing of latent channels`);
  const rope = c.axesDimsRope.reduce((a, b) => a + b, 0);
  if (rope !== c.headDim || c.axesDimsRope.some((d) => d % 2)) {
    throw new Error(`${source}: axes_dims_rope [${c.axesDimsRope}] must be even and add up to attention_head_dim ${c.headDim}`);
  }
  return c;
}

export function fluxConfigFromDiffusers(json: JsonObject, source: string): FluxConfig {
  const f = new Fields(json, source);
  const patch = f.int('patch_size', 1);
  if (patch !== 1) throw new Error(`${source}: patch_size ${patch} is not FLUX.1's (1: latents are packed 2×2 before the transformer)`);
  const inChannels = f.int('in_channels', 64);
  if (inChannels !== 64) {
    throw new Error(`${source}: in_channels ${inChannels} is not a text-to-image FLUX.1 transformer's 64 (Fill, Depth and Canny models take extra image channels and are not supported)`);
  }
  return checked({
    inChannels,
    outChannels: json.out_channels === null || json.out_channels === undefined ? inChannels : f.int('out_channels'),
    numLayers: f.int('num_layers', 19),
    numSingleLayers: f.int('num_single_layers', 38),
    headDim: f.int('attention_head_dim', 128),
    heads: f.int('num_attention_heads', 24),
    jointAttentionDim: f.int('joint_attention_dim', 4096),
    pooledProjectionDim: f.int('pooled_projection_dim', 768),
    guidanceEmbeds: f.bool('guidance_embeds', false),
    axesDimsRope: f.ints('axes_dims_rope', [...FLUX1_ROPE_AXES]),
  }, source);
}

/** The config of a transformer seen under diffusers names, from its tensor shapes; RoPE axes are FLUX.1's unless given. */
export function fluxConfigFromTensors(src: TensorSource, source: string, axesDimsRope: readonly number[] = FLUX1_ROPE_AXES): FluxConfig {
  const [width, inChannels] = shapeOf(src, 'x_embedder.weight');
  const headDim = shapeOf(src, 'transformer_blocks.0.attn.norm_q.weight')[0];
  return fluxConfigFromDiffusers({
    in_channels: inChannels,
    out_channels: shapeOf(src, 'proj_out.weight')[0],
    num_layers: countIndexed(src, 'transformer_blocks.', '.norm1.linear.weight'),
    num_single_layers: countIndexed(src, 'single_transformer_blocks.', '.norm.linear.weight'),
    attention_head_dim: headDim,
    num_attention_heads: width / headDim,
    joint_attention_dim: shapeOf(src, 'context_embedder.weight')[1],
    pooled_projection_dim: shapeOf(src, 'time_text_embed.text_embedder.linear_1.weight')[1],
    guidance_embeds: src.has('time_text_embed.guidance_embedder.linear_1.weight'),
    axes_dims_rope: [...axesDimsRope],
  }, source);
}
