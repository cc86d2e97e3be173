// SD3 / SD3.5 MMDiT hyper-parameters, as diffusers' SD3Transformer2DModel config names them.
import { Fields, type JsonObject } from '../../checkpoints/json-fields.ts';

export interface MmditConfig {
  patchSize: number;
  inChannels: number;
  outChannels: number;
  numLayers: number;
  headDim: number;
  heads: number;
  /** Width of the text features fed in (T5's d_model; CLIP features are zero-padded to it). */
  jointAttentionDim: number;
  /** Width of the pooled CLIP-L ⊕ CLIP-G vector. */
  pooledProjectionDim: number;
  /** Side of the stored position-embedding grid, in patches. */
  posEmbedMaxSize: number;
  /** Blocks with the extra image-only self-attention (SD3.5-medium: 0–12). */
  dualAttentionLayers: readonly number[];
  /** SD3.5: RMSNorm on q and k of every attention. */
  qkNorm: boolean;
}

export const mmditWidth = (c: MmditConfig): number => c.heads * c.headDim;

export function mmditConfigFromDiffusers(json: JsonObject, source: string): MmditConfig {
  const f = new Fields(json, source);
  const qk = json.qk_norm;
  if (qk !== null && qk !== undefined && qk !== 'rms_norm') throw new Error(`${source}: qk_norm "${String(qk)}" is not supported (SD3.5 uses rms_norm)`);
  const heads = f.int('num_attention_heads', 18);
  const headDim = f.int('attention_head_dim', 64);
  const caption = f.int('caption_projection_dim', 1152);
  if (caption !== heads * headDim) throw new Error(`${source}: caption_projection_dim ${caption} must equal num_attention_heads × attention_head_dim (${heads * headDim}) for joint attention`);
  const inChannels = f.int('in_channels', 16);
  return {
    patchSize: f.int('patch_size', 2),
    inChannels,
    outChannels: json.out_channels === null ? inChannels : f.int('out_channels', 16),
    numLayers: f.int('num_layers', 18),
    headDim,
    heads,
    jointAttentionDim: f.int('joint_attention_dim', 4096),
    pooledProjectionDim: f.int('pooled_projection_dim', 2048),
    posEmbedMaxSize: f.int('pos_embed_max_size', 96),
    dualAttentionLayers: f.ints('dual_attention_layers', []),
    qkNorm: qk === 'rms_norm',
  };
}
