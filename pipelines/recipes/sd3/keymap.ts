// SD3's original single-file layout (`model.diffusion_model.*`, as Stability ships sd3_medium and
// sd3.5 files) seen under diffusers' SD3Transformer2DModel names. Most tensors are renames; fused
// `qkv` weights are split into thirds as byte ranges of the file (rows of a [3D, D] matrix are
// contiguous, so no copy); the two continuous-adaLN weights store [shift; scale] where diffusers has
// [scale; shift], so their halves are swapped into a small side file (the only bytes copied).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DTYPE_BYTES, SafetensorsFile, writeSafetensors, type TensorInfo, type TensorToWrite } from '../../io/safetensors.ts';
import { ListedSource, rowsOf } from '../../checkpoints/sources.ts';
import { CheckpointShapeError } from '../../onnx/weights.ts';

export const SD3_PREFIX = 'model.diffusion_model.';

/** diffusers name → the file's tensor (renamed, or a row range of a fused qkv), and the names whose halves swap. */
function sd3Entries(file: SafetensorsFile, prefix: string): { entries: Map<string, TensorInfo>; swapped: Map<string, string> } {
  const entries = new Map<string, TensorInfo>();
  const swapped = new Map<string, string>();
  const o = (k: string) => prefix + k;
  const rename = (name: string, key: string) => {
    if (file.has(o(key))) entries.set(name, file.info(o(key)));
  };
  const split = (names: readonly string[], key: string) => {
    if (!file.has(o(key))) return;
    const info = file.info(o(key));
    names.forEach((n, i) => entries.set(n, rowsOf(info, i, names.length, n)));
  };
  const swap = (name: string, key: string) => {
    if (!file.has(o(key))) return;
    entries.set(name, file.info(o(key)));
    swapped.set(name, o(key));
  };
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
  const blocks = new Set(file.keys().filter((k) => k.startsWith(o('joint_blocks.'))).map((k) => Number(k.slice(o('joint_blocks.').length).split('.')[0])));
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

  return { entries, swapped };
}

export class Sd3SingleFileTransformer extends ListedSource {
  private readonly swapped: ReadonlyMap<string, string>;
  private side?: SafetensorsFile;

  constructor(private readonly file: SafetensorsFile, prefix = SD3_PREFIX, mapped = sd3Entries(file, prefix)) {
    super(file.path, mapped.entries, 'SD3 single file');
    this.swapped = mapped.swapped;
  }

  override info(name: string): TensorInfo {
    const swapped = this.swapped.get(name);
    return swapped === undefined ? super.info(name) : this.sideFile().info(swapped);
  }

  /** The swapped adaLN tensors, written once per checkpoint (keyed by its path, size and time). */
  private sideFile(): SafetensorsFile {
    if (this.side) return this.side;
    const st = statSync(this.path);
    const key = createHash('sha256').update(`${this.path}|${st.size}|${st.mtimeMs}`).digest('hex').slice(0, 16);
    const dir = join(tmpdir(), 'diffusion-studio');
    const file = join(dir, `sd3-adaln-${key}.safetensors`);
    if (!existsSync(file)) {
      mkdirSync(dir, { recursive: true });
      const out: Record<string, TensorToWrite> = {};
      for (const swapped of this.swapped.values()) {
        const info = this.file.info(swapped);
        const bytes = this.file.readBytes(swapped);
        const half = bytes.byteLength / 2;
        if (half % DTYPE_BYTES[info.dtype]) throw new CheckpointShapeError(this.path, swapped, 'cannot be split into shift and scale halves');
        out[swapped] = { dtype: info.dtype, shape: [...info.shape], data: Buffer.concat([bytes.subarray(half), bytes.subarray(0, half)]) };
      }
      writeSafetensors(file, out);
    }
    this.side = SafetensorsFile.open(file);
    return this.side;
  }
}
