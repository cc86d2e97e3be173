// PixArt's own checkpoint layout (PixArt-α/Σ's .pth releases and LiT's, whose state_dict names are PixArt's
// with the self-attention's `qkv` replaced by `q`, `kv` and `dwc`) seen under the studio's PixArt names:
// diffusers' PixArtTransformer2DModel names, and for a LiT layer `attn1.q / kv / proj / dwc`. Fused qkv and
// kv matrices become row ranges of the file (no copy; checkpoints/original-layout.ts), as diffusers'
// convert_pixart_to_diffusers splits them.
import type { TensorFile } from '../../io/tensor-file.ts';
import { OriginalLayoutSource } from '../../checkpoints/original-layout.ts';
import type { KeyedSource } from '../../checkpoints/sources.ts';
import { CheckpointShapeError } from '../../onnx/weights.ts';

/** Tensors a PixArt original-layout file has that the model does not read (the sin-cos table is recomputed). */
const IGNORED = new Set(['pos_embed']);

const RENAMES: readonly (readonly [string, string])[] = [
  ['pos_embed.proj', 'x_embedder.proj'],
  ['caption_projection.linear_1', 'y_embedder.y_proj.fc1'],
  ['caption_projection.linear_2', 'y_embedder.y_proj.fc2'],
  ['adaln_single.emb.timestep_embedder.linear_1', 't_embedder.mlp.0'],
  ['adaln_single.emb.timestep_embedder.linear_2', 't_embedder.mlp.2'],
  ['adaln_single.emb.resolution_embedder.linear_1', 'csize_embedder.mlp.0'],
  ['adaln_single.emb.resolution_embedder.linear_2', 'csize_embedder.mlp.2'],
  ['adaln_single.emb.aspect_ratio_embedder.linear_1', 'ar_embedder.mlp.0'],
  ['adaln_single.emb.aspect_ratio_embedder.linear_2', 'ar_embedder.mlp.2'],
  ['adaln_single.linear', 't_block.1'],
  ['proj_out', 'final_layer.linear'],
];

/** `file` (in PixArt's or LiT's own names) under the studio's PixArt names; a tensor of no known place is an error. */
export function pixartOriginalLayout(file: TensorFile): KeyedSource {
  const src = new OriginalLayoutSource(file, '', 'PixArt checkpoint');
  const keys = new Set(file.keys());
  const read = new Set(IGNORED);
  const rename = (name: string, key: string) => {
    src.rename(name, key);
    read.add(key);
  };
  const split = (names: readonly string[], key: string) => {
    src.split(names, key);
    read.add(key);
  };
  for (const wb of ['weight', 'bias']) for (const [ours, theirs] of RENAMES) rename(`${ours}.${wb}`, `${theirs}.${wb}`);
  rename('scale_shift_table', 'final_layer.scale_shift_table');
  const blocks = new Set([...keys].map((k) => /^blocks\.(\d+)\./.exec(k)?.[1]).filter((b) => b !== undefined).map(Number));
  for (const i of blocks) {
    const [d, b] = [`transformer_blocks.${i}`, `blocks.${i}`];
    rename(`${d}.scale_shift_table`, `${b}.scale_shift_table`);
    const lit = keys.has(`${b}.attn.dwc.weight`);
    for (const wb of ['weight', 'bias']) {
      if (lit) for (const n of ['q', 'kv', 'proj', 'dwc']) rename(`${d}.attn1.${n}.${wb}`, `${b}.attn.${n}.${wb}`);
      else {
        split([`${d}.attn1.to_q.${wb}`, `${d}.attn1.to_k.${wb}`, `${d}.attn1.to_v.${wb}`], `${b}.attn.qkv.${wb}`);
        rename(`${d}.attn1.to_out.0.${wb}`, `${b}.attn.proj.${wb}`);
        // PixArt-Σ's KV compression (conv sampling): its depthwise conv and LayerNorm.
        rename(`${d}.attn1.sr.${wb}`, `${b}.attn.sr.${wb}`);
        rename(`${d}.attn1.norm.${wb}`, `${b}.attn.norm.${wb}`);
      }
      rename(`${d}.attn2.to_q.${wb}`, `${b}.cross_attn.q_linear.${wb}`);
      split([`${d}.attn2.to_k.${wb}`, `${d}.attn2.to_v.${wb}`], `${b}.cross_attn.kv_linear.${wb}`);
      rename(`${d}.attn2.to_out.0.${wb}`, `${b}.cross_attn.proj.${wb}`);
      rename(`${d}.ff.net.0.proj.${wb}`, `${b}.mlp.fc1.${wb}`);
      rename(`${d}.ff.net.2.${wb}`, `${b}.mlp.fc2.${wb}`);
    }
  }
  const unknown = [...keys].filter((k) => !read.has(k));
  if (unknown.length) throw new CheckpointShapeError(file.path, unknown[0], `is not part of PixArt's or LiT's layout (${unknown.length} such tensors, e.g. ${unknown.slice(0, 3).join(', ')}): not a PixArt / LiT checkpoint the studio reads`);
  return src;
}
