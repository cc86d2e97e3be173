// SD3 / SD3.5 single files: the MMDiT under `model.diffusion_model.`, and as Stability's downloads
// bundle them, maybe the VAE (`first_stage_model.`), CLIP-L, CLIP-G and T5 (`text_encoders.clip_l|clip_g|
// t5xxl.transformer.`, HF layouts). Parts the file lacks come from a components folder: a diffusers SD3
// folder beside the file named like it (`sd3.5_medium.safetensors` → `sd3.5_medium/`), or one given.
// Configs come from that folder when there is one, else from the tensor shapes and SD3's constants.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ModelParts } from '../../checkpoints/components.ts';
import { readJsonObject, type JsonObject } from '../../checkpoints/json-fields.ts';
import { countIndexed, shapeOf, type KeyedSource } from '../../checkpoints/sources.ts';
import { mmditConfigFromDiffusers, type MmditConfig } from '../../models/mmdit/config.ts';
import { sd3SingleFileTransformer } from './keymap.ts';
import { SD3_SCHEDULER, schedulerConfig, type Sd3Sources } from './sources.ts';

const ENCODERS = { clipL: 'text_encoders.clip_l.transformer.', clipG: 'text_encoders.clip_g.transformer.', t5: 'text_encoders.t5xxl.transformer.' } as const;
/** SD3's VAE config (stable-diffusion-3-medium-diffusers/vae/config.json), for files that bring none. */
const SD3_VAE = {
  id: 'sd3',
  vaeConfig: (): JsonObject => ({
    in_channels: 3, out_channels: 3, latent_channels: 16, block_out_channels: [128, 256, 512, 512], layers_per_block: 2, norm_num_groups: 32,
    scaling_factor: 1.5305, shift_factor: 0.0609, use_quant_conv: false, use_post_quant_conv: false, mid_block_add_attention: true,
  }),
};
/** Every released SD3 / SD3.5 model uses 64-wide heads; qk-norm weights tell it exactly when present. */
const SD3_HEAD_DIM = 64;

export class Sd3MissingPartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Sd3MissingPartError';
  }
}

/** diffusers SD3Transformer2DModel config from the tensors (names already diffusers'). */
function transformerConfig(src: KeyedSource): MmditConfig {
  const [width, inChannels, patch] = shapeOf(src, 'pos_embed.proj.weight');
  const layers = countIndexed(src, 'transformer_blocks.', '.norm1.linear.weight');
  const headDim = src.has('transformer_blocks.0.attn.norm_q.weight') ? shapeOf(src, 'transformer_blocks.0.attn.norm_q.weight')[0] : SD3_HEAD_DIM;
  const json: JsonObject = {
    patch_size: patch,
    in_channels: inChannels,
    out_channels: shapeOf(src, 'proj_out.weight')[0] / (patch * patch),
    num_layers: layers,
    attention_head_dim: headDim,
    num_attention_heads: width / headDim,
    caption_projection_dim: width,
    joint_attention_dim: shapeOf(src, 'context_embedder.weight')[1],
    pooled_projection_dim: shapeOf(src, 'time_text_embed.text_embedder.linear_1.weight')[1],
    pos_embed_max_size: Math.round(Math.sqrt(shapeOf(src, 'pos_embed.pos_embed')[1])),
    dual_attention_layers: Array.from({ length: layers }, (_, i) => i).filter((i) => src.has(`transformer_blocks.${i}.attn2.to_q.weight`)),
    qk_norm: src.has('transformer_blocks.0.attn.norm_q.weight') ? 'rms_norm' : null,
  };
  return mmditConfigFromDiffusers(json, `${src.path} (config from its tensors)`);
}

export interface Sd3SingleFileOptions {
  modelsDir?: string;
  /** A diffusers SD3 folder giving the parts and configs the file lacks (default: `<file without .safetensors>/`). */
  componentsDir?: string;
  withoutT5?: boolean;
}

export function loadSd3SingleFile(path: string, o: Sd3SingleFileOptions = {}): Sd3Sources {
  const parts = ModelParts.singleFile(path, o.componentsDir);
  const clip = (key: 'clipL' | 'clipG', component: string, index: number, hiddenAct: 'quick_gelu' | 'gelu') =>
    parts.clip({ prefix: ENCODERS[key], component, index, hiddenAct, pad: index === 0 ? 'eos' : '!', familyName: 'SD3', modelsDir: o.modelsDir });
  const missing = (['clipL', 'clipG'] as const).filter((k) => !parts.inFile(ENCODERS[k]) && !parts.fromComponents(k === 'clipL' ? 'text_encoder' : 'text_encoder_2'));
  if (missing.length) {
    throw new Sd3MissingPartError(
      `${path} is an SD3 transformer without its CLIP text encoders (${missing.map((k) => (k === 'clipL' ? 'CLIP-L' : 'CLIP-G')).join(' and ')} missing; T5 is optional). ` +
        `Add them: use the checkpoint that includes them (Stability's "…_incl_clips.safetensors" or "…_incl_clips_t5xxlfp16.safetensors"), ` +
        `or put the SD3 diffusers folder's text_encoder/ and text_encoder_2/ (with tokenizer/ and tokenizer_2/; text_encoder_3/ and tokenizer_3/ for T5) in ${parts.sibling}/ beside the file.`,
    );
  }

  const transformer = sd3SingleFileTransformer(parts.file);
  const given = parts.config('transformer');
  const transformerCfg = given ? mmditConfigFromDiffusers(given.json, given.file) : transformerConfig(transformer);

  const vae = parts.vae(SD3_VAE);
  if (!vae) throw new Sd3MissingPartError(`${path} has no VAE (first_stage_model.*): put the SD3 VAE's diffusers folder (vae/) in ${parts.sibling}/ beside the file`);

  let t5: Sd3Sources['t5'];
  const t5Part = o.withoutT5 ? undefined : parts.t5(ENCODERS.t5, 'text_encoder_3');
  if (t5Part) {
    const tokenizer = parts.t5Tokenizer('tokenizer_3', o.modelsDir);
    if (!tokenizer) {
      throw new Sd3MissingPartError(`${path} brings T5 but no T5 tokenizer was found: put T5's tokenizer.json in ${join(parts.sibling, 'tokenizer_3')}/ or in <models dir>/tokenizers/t5/ (or run without T5)`);
    }
    t5 = { ...t5Part, tokenizer };
  }

  const schedulerFile = parts.components && join(parts.components, 'scheduler', 'scheduler_config.json');
  return {
    path,
    layout: 'single-file',
    transformer,
    transformerConfig: transformerCfg,
    vae: vae.source,
    vaeConfig: vae.config,
    clipL: clip('clipL', 'text_encoder', 0, 'quick_gelu')!,
    clipG: clip('clipG', 'text_encoder_2', 1, 'gelu')!,
    t5,
    scheduler: schedulerFile && existsSync(schedulerFile) ? schedulerConfig(readJsonObject(schedulerFile)) : SD3_SCHEDULER,
  };
}
