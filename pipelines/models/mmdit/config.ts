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

/** SD3-medium (stabilityai/stable-diffusion-3-medium-diffusers' transformer config). */
export const SD3_MEDIUM: MmditConfig = {
  patchSize: 2, inChannels: 16, outChannels: 16, numLayers: 24, headDim: 64, heads: 24,
  jointAttentionDim: 4096, pooledProjectionDim: 2048, posEmbedMaxSize: 192, dualAttentionLayers: [], qkNorm: false,
};

/** Every tensor of a diffusers SD3Transformer2DModel of this config, with its shape. */
export function mmditTensorShapes(c: MmditConfig): Record<string, number[]> {
  const d = mmditWidth(c);
  const p = c.patchSize;
  const linear = (name: string, out: number, inp: number) => ({ [`${name}.weight`]: [out, inp], [`${name}.bias`]: [out] });
  const s: Record<string, number[]> = {
    'pos_embed.pos_embed': [1, c.posEmbedMaxSize ** 2, d],
    'pos_embed.proj.weight': [d, c.inChannels, p, p],
    'pos_embed.proj.bias': [d],
    ...linear('time_text_embed.timestep_embedder.linear_1', d, 256),
    ...linear('time_text_embed.timestep_embedder.linear_2', d, d),
    ...linear('time_text_embed.text_embedder.linear_1', d, c.pooledProjectionDim),
    ...linear('time_text_embed.text_embedder.linear_2', d, d),
    ...linear('context_embedder', d, c.jointAttentionDim),
    ...linear('norm_out.linear', 2 * d, d),
    ...linear('proj_out', p * p * c.outChannels, d),
  };
  for (let i = 0; i < c.numLayers; i++) {
    const b = `transformer_blocks.${i}`;
    const last = i === c.numLayers - 1;
    const dual = c.dualAttentionLayers.includes(i);
    Object.assign(s, linear(`${b}.norm1.linear`, (dual ? 9 : 6) * d, d), linear(`${b}.norm1_context.linear`, (last ? 2 : 6) * d, d));
    for (const n of ['to_q', 'to_k', 'to_v', 'add_q_proj', 'add_k_proj', 'add_v_proj', 'to_out.0']) Object.assign(s, linear(`${b}.attn.${n}`, d, d));
    if (!last) Object.assign(s, linear(`${b}.attn.to_add_out`, d, d), linear(`${b}.ff_context.net.0.proj`, 4 * d, d), linear(`${b}.ff_context.net.2`, d, 4 * d));
    Object.assign(s, linear(`${b}.ff.net.0.proj`, 4 * d, d), linear(`${b}.ff.net.2`, d, 4 * d));
    if (dual) for (const n of ['to_q', 'to_k', 'to_v', 'to_out.0']) Object.assign(s, linear(`${b}.attn2.${n}`, d, d));
    if (c.qkNorm) {
      for (const n of ['norm_q', 'norm_k', 'norm_added_q', 'norm_added_k']) s[`${b}.attn.${n}.weight`] = [c.headDim];
      if (dual) for (const n of ['norm_q', 'norm_k']) s[`${b}.attn2.${n}.weight`] = [c.headDim];
    }
  }
  return s;
}
