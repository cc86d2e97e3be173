// SD3's original single-file layout (`model.diffusion_model.*`, as Stability ships sd3_medium and
// sd3.5 files) seen under diffusers' SD3Transformer2DModel names. Most tensors are renames; fused
// `qkv` weights are split into thirds; the two continuous-adaLN weights store [shift; scale] where
// diffusers has [scale; shift] (see checkpoints/original-layout.ts).
import { SafetensorsFile } from '../../io/safetensors.ts';
import { OriginalLayoutSource } from '../../checkpoints/original-layout.ts';

export const SD3_PREFIX = 'model.diffusion_model.';

export function sd3SingleFileTransformer(file: SafetensorsFile, prefix = SD3_PREFIX): OriginalLayoutSource {
  const src = new OriginalLayoutSource(file, prefix, 'SD3 single file');
  const rename = (name: string, key: string) => src.rename(name, key);
  const split = (names: readonly string[], key: string) => src.split(names, key);
  const swap = (name: string, key: string) => src.swap(name, key);
  rename('pos_embed.pos_embed', 'pos_embed');
  for (const wb of ['weight', 'bias']) {
    rename(`pos_embed.proj.${wb}`, `x_embedder.proj.${wb}`);
    rename(`time_text_embed.timestep_embedder.linear_1.${wb}`, `t_embedder.mlp.0.${wb}`);
    rename(`time_text_embed.timestep_embedder.linear_2.${wb}`, `t_embedder.mlp.2.${wb}`);
    rename(`time_text_embed.text_embedder.linear_1.${wb}`, `y_embedder.mlp.0.${wb}`);
    rename(`time_text_embed.text_embedder.linear_2.${wb}`, `y_embedder.mlp.2.${wb}`);
    rename(`context_embedder.${wb}`, `context_embedder.${wb}`);
    rename(`proj_out.${wb}`, `final_layer.linear.${wb}`);
    swap(`norm_out.linear.${wb}`, `final_layer.adaLN_modulation.1.${wb}`);
  }
  const blocks = new Set(src.originalKeys().filter((k) => k.startsWith('joint_blocks.')).map((k) => Number(k.split('.')[1])));
  const last = Math.max(...blocks);
  for (const i of blocks) {
    const [d, j] = [`transformer_blocks.${i}`, `joint_blocks.${i}`];
    for (const wb of ['weight', 'bias']) {
      split([`${d}.attn.to_q.${wb}`, `${d}.attn.to_k.${wb}`, `${d}.attn.to_v.${wb}`], `${j}.x_block.attn.qkv.${wb}`);
      split([`${d}.attn.add_q_proj.${wb}`, `${d}.attn.add_k_proj.${wb}`, `${d}.attn.add_v_proj.${wb}`], `${j}.context_block.attn.qkv.${wb}`);
      split([`${d}.attn2.to_q.${wb}`, `${d}.attn2.to_k.${wb}`, `${d}.attn2.to_v.${wb}`], `${j}.x_block.attn2.qkv.${wb}`);
      rename(`${d}.attn.to_out.0.${wb}`, `${j}.x_block.attn.proj.${wb}`);
      rename(`${d}.attn.to_add_out.${wb}`, `${j}.context_block.attn.proj.${wb}`);
      rename(`${d}.attn2.to_out.0.${wb}`, `${j}.x_block.attn2.proj.${wb}`);
      rename(`${d}.norm1.linear.${wb}`, `${j}.x_block.adaLN_modulation.1.${wb}`);
      if (i === last) swap(`${d}.norm1_context.linear.${wb}`, `${j}.context_block.adaLN_modulation.1.${wb}`);
      else rename(`${d}.norm1_context.linear.${wb}`, `${j}.context_block.adaLN_modulation.1.${wb}`);
      rename(`${d}.ff.net.0.proj.${wb}`, `${j}.x_block.mlp.fc1.${wb}`);
      rename(`${d}.ff.net.2.${wb}`, `${j}.x_block.mlp.fc2.${wb}`);
      rename(`${d}.ff_context.net.0.proj.${wb}`, `${j}.context_block.mlp.fc1.${wb}`);
      rename(`${d}.ff_context.net.2.${wb}`, `${j}.context_block.mlp.fc2.${wb}`);
    }
    for (const [attn, block] of [['attn', 'x_block.attn'], ['attn2', 'x_block.attn2']] as const) {
      rename(`${d}.${attn}.norm_q.weight`, `${j}.${block}.ln_q.weight`);
      rename(`${d}.${attn}.norm_k.weight`, `${j}.${block}.ln_k.weight`);
    }
    rename(`${d}.attn.norm_added_q.weight`, `${j}.context_block.attn.ln_q.weight`);
    rename(`${d}.attn.norm_added_k.weight`, `${j}.context_block.attn.ln_k.weight`);
  }
  return src;
}
