// FLUX.1's original single-file layout (Black Forest Labs' flux1-dev / flux1-schnell files, and ComfyUI's
// under `model.diffusion_model.`) seen under diffusers' FluxTransformer2DModel names: double blocks'
// fused `qkv` split into thirds, single blocks' `linear1` into q, k, v and the MLP (1:1:1:4), and the
// final adaLN's [shift; scale] halves swapped (checkpoints/original-layout.ts).
import { SafetensorsFile } from '../../io/safetensors.ts';
import { OriginalLayoutSource } from '../../checkpoints/original-layout.ts';
import { indicesUnder } from '../../checkpoints/sources.ts';

/** The prefix FLUX's transformer keys carry in this file: none (BFL), or ComfyUI's. */
export function fluxPrefix(keys: readonly string[]): string | undefined {
  return ['', 'model.diffusion_model.'].find((p) => keys.some((k) => k.startsWith(`${p}double_blocks.`)));
}

export function fluxSingleFileTransformer(file: SafetensorsFile, prefix: string): OriginalLayoutSource {
  const src = new OriginalLayoutSource(file, prefix, 'FLUX single file');
  const linear = (name: string, key: string) => ['weight', 'bias'].forEach((wb) => src.rename(`${name}.${wb}`, `${key}.${wb}`));
  const norms = (attn: string, key: string, added = '') => {
    src.rename(`${attn}.norm${added ? '_added' : ''}_q.weight`, `${key}.query_norm.scale`);
    src.rename(`${attn}.norm${added ? '_added' : ''}_k.weight`, `${key}.key_norm.scale`);
  };
  linear('x_embedder', 'img_in');
  linear('context_embedder', 'txt_in');
  linear('time_text_embed.timestep_embedder.linear_1', 'time_in.in_layer');
  linear('time_text_embed.timestep_embedder.linear_2', 'time_in.out_layer');
  linear('time_text_embed.guidance_embedder.linear_1', 'guidance_in.in_layer');
  linear('time_text_embed.guidance_embedder.linear_2', 'guidance_in.out_layer');
  linear('time_text_embed.text_embedder.linear_1', 'vector_in.in_layer');
  linear('time_text_embed.text_embedder.linear_2', 'vector_in.out_layer');
  linear('proj_out', 'final_layer.linear');
  for (const wb of ['weight', 'bias']) src.swap(`norm_out.linear.${wb}`, `final_layer.adaLN_modulation.1.${wb}`);

  const keys = src.originalKeys();
  for (const i of indicesUnder(keys, 'double_blocks.')) {
    const [d, o] = [`transformer_blocks.${i}`, `double_blocks.${i}`];
    linear(`${d}.norm1.linear`, `${o}.img_mod.lin`);
    linear(`${d}.norm1_context.linear`, `${o}.txt_mod.lin`);
    for (const wb of ['weight', 'bias']) {
      src.split([`${d}.attn.to_q.${wb}`, `${d}.attn.to_k.${wb}`, `${d}.attn.to_v.${wb}`], `${o}.img_attn.qkv.${wb}`);
      src.split([`${d}.attn.add_q_proj.${wb}`, `${d}.attn.add_k_proj.${wb}`, `${d}.attn.add_v_proj.${wb}`], `${o}.txt_attn.qkv.${wb}`);
    }
    norms(`${d}.attn`, `${o}.img_attn.norm`);
    norms(`${d}.attn`, `${o}.txt_attn.norm`, 'added');
    linear(`${d}.attn.to_out.0`, `${o}.img_attn.proj`);
    linear(`${d}.attn.to_add_out`, `${o}.txt_attn.proj`);
    linear(`${d}.ff.net.0.proj`, `${o}.img_mlp.0`);
    linear(`${d}.ff.net.2`, `${o}.img_mlp.2`);
    linear(`${d}.ff_context.net.0.proj`, `${o}.txt_mlp.0`);
    linear(`${d}.ff_context.net.2`, `${o}.txt_mlp.2`);
  }
  for (const i of indicesUnder(keys, 'single_blocks.')) {
    const [d, o] = [`single_transformer_blocks.${i}`, `single_blocks.${i}`];
    linear(`${d}.norm.linear`, `${o}.modulation.lin`);
    for (const wb of ['weight', 'bias']) {
      src.split([`${d}.attn.to_q.${wb}`, `${d}.attn.to_k.${wb}`, `${d}.attn.to_v.${wb}`, `${d}.proj_mlp.${wb}`], `${o}.linear1.${wb}`, [1, 1, 1, 4]);
    }
    norms(`${d}.attn`, `${o}.norm`);
    linear(`${d}.proj_out`, `${o}.linear2`);
  }
  return src;
}
