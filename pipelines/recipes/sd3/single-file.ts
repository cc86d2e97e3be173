// SD3 / SD3.5 single files: the MMDiT under `model.diffusion_model.`, and as Stability's downloads
// bundle them, maybe the VAE (`first_stage_model.`), CLIP-L, CLIP-G and T5 (`text_encoders.clip_l|clip_g|
// t5xxl.transformer.`, HF layouts). Parts the file lacks come from a components folder: a diffusers SD3
// folder beside the file named like it (`sd3.5_medium.safetensors` → `sd3.5_medium/`), or one given.
// Configs come from that folder when there is one, else from the tensor shapes and SD3's constants.
import { existsSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { SafetensorsFile } from '../../io/safetensors.ts';
import { canonicalTextEncoder, componentWeights } from '../../checkpoints/diffusers-folder.ts';
import { resolveClipConfig, resolveVaeConfig } from '../../checkpoints/infer-config.ts';
import { readJsonObject, type JsonObject } from '../../checkpoints/json-fields.ts';
import { originalVae } from '../../checkpoints/single-file.ts';
import { countIndexed, shapeOf, withoutPrefix, type KeyedSource } from '../../checkpoints/sources.ts';
import { findTokenizerDir } from '../../checkpoints/tokenizers.ts';
import { clipTextConfigFromHf } from '../../models/clip/config.ts';
import { mmditConfigFromDiffusers, type MmditConfig } from '../../models/mmdit/config.ts';
import { t5ConfigFromHf, type T5Config } from '../../models/t5/config.ts';
import { vaeConfigFromDiffusers } from '../../models/vae/config.ts';
import { sd3SingleFileTransformer } from './keymap.ts';
import { SD3_SCHEDULER, schedulerConfig, type Sd3Sources, type Sd3TextEncoder } from './sources.ts';

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

/** HF T5Config from the tensors (HF names), for files that bring no config. */
function t5Config(src: KeyedSource): T5Config {
  const [vocab, dModel] = shapeOf(src, 'shared.weight');
  const [buckets, heads] = shapeOf(src, 'encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight');
  return t5ConfigFromHf({
    vocab_size: vocab, d_model: dModel, num_heads: heads, relative_attention_num_buckets: buckets,
    d_kv: shapeOf(src, 'encoder.block.0.layer.0.SelfAttention.q.weight')[0] / heads,
    d_ff: shapeOf(src, 'encoder.block.0.layer.1.DenseReluDense.wi_0.weight')[0],
    num_layers: countIndexed(src, 'encoder.block.', '.layer.0.layer_norm.weight'),
    feed_forward_proj: 'gated-gelu', relative_attention_max_distance: 128, layer_norm_epsilon: 1e-6,
  }, `${src.path} (T5 config from its tensors)`);
}

export interface Sd3SingleFileOptions {
  modelsDir?: string;
  /** A diffusers SD3 folder giving the parts and configs the file lacks (default: `<file without .safetensors>/`). */
  componentsDir?: string;
  withoutT5?: boolean;
}

export function loadSd3SingleFile(path: string, o: Sd3SingleFileOptions = {}): Sd3Sources {
  const file = SafetensorsFile.open(path);
  const sibling = join(dirname(path), basename(path, extname(path)));
  const components = o.componentsDir ?? (existsSync(join(sibling, 'model_index.json')) ? sibling : undefined);
  const given = (component: string) => {
    const f = components && join(components, component, 'config.json');
    return f && existsSync(f) ? { json: readJsonObject(f), file: f } : undefined;
  };
  const inFile = (prefix: string) => file.keys().some((k) => k.startsWith(prefix));
  const fromComponents = (component: string, base: string) => (components && existsSync(join(components, component)) ? componentWeights(join(components, component), base) : undefined);

  const missing = (['clipL', 'clipG'] as const).filter((k) => !inFile(ENCODERS[k]) && !fromComponents(k === 'clipL' ? 'text_encoder' : 'text_encoder_2', 'model'));
  if (missing.length) {
    throw new Sd3MissingPartError(
      `${path} is an SD3 transformer without its CLIP text encoders (${missing.map((k) => (k === 'clipL' ? 'CLIP-L' : 'CLIP-G')).join(' and ')} missing; T5 is optional). ` +
        `Add them: use the checkpoint that includes them (Stability's "…_incl_clips.safetensors" or "…_incl_clips_t5xxlfp16.safetensors"), ` +
        `or put the SD3 diffusers folder's text_encoder/ and text_encoder_2/ (with tokenizer/ and tokenizer_2/; text_encoder_3/ and tokenizer_3/ for T5) in ${sibling}/ beside the file.`,
    );
  }

  const transformer = sd3SingleFileTransformer(file);
  const transformerCfg = given('transformer') ? mmditConfigFromDiffusers(given('transformer')!.json, given('transformer')!.file) : transformerConfig(transformer);

  const vae = inFile('first_stage_model.') ? originalVae(file) : fromComponents('vae', 'diffusion_pytorch_model');
  if (!vae) throw new Sd3MissingPartError(`${path} has no VAE (first_stage_model.*): put the SD3 VAE's diffusers folder (vae/) in ${sibling}/ beside the file`);
  const vaeGiven = given('vae');
  const vaeConfig = vaeGiven ? vaeConfigFromDiffusers(vaeGiven.json, vaeGiven.file) : resolveVaeConfig(vae, SD3_VAE);

  const clip = (key: 'clipL' | 'clipG', component: string, index: number, hiddenAct: 'quick_gelu' | 'gelu'): Sd3TextEncoder => {
    const source = canonicalTextEncoder(inFile(ENCODERS[key]) ? withoutPrefix(file, ENCODERS[key]) : fromComponents(component, 'model')!);
    const g = given(component);
    const config = g ? clipTextConfigFromHf(g.json, g.file) : resolveClipConfig(source, { prefix: '', layout: 'hf', hiddenAct, droppedFinalLayers: 0, withProjection: true });
    return { source, config, tokenizerDir: findTokenizerDir(index, { modelDir: components, modelsDir: o.modelsDir, model: path, familyName: 'SD3' }), pad: index === 0 ? 'eos' : '!' };
  };

  let t5: Sd3Sources['t5'];
  const t5Source = o.withoutT5 ? undefined : inFile(ENCODERS.t5) ? withoutPrefix(file, ENCODERS.t5) : fromComponents('text_encoder_3', 'model');
  if (t5Source) {
    const g = given('text_encoder_3');
    const tokenizer = [components && join(components, 'tokenizer_3'), o.modelsDir && join(o.modelsDir, 'tokenizers', 't5')].find((d) => d && existsSync(join(d, 'tokenizer.json')));
    if (!tokenizer) {
      throw new Sd3MissingPartError(`${path} brings T5 but no T5 tokenizer was found: put T5's tokenizer.json in ${join(sibling, 'tokenizer_3')}/ or in <models dir>/tokenizers/t5/ (or run without T5)`);
    }
    t5 = { source: t5Source, config: g ? t5ConfigFromHf(g.json, g.file) : t5Config(t5Source), tokenizer };
  }

  const schedulerFile = components && join(components, 'scheduler', 'scheduler_config.json');
  return {
    path,
    layout: 'single-file',
    transformer,
    transformerConfig: transformerCfg,
    vae,
    vaeConfig,
    clipL: clip('clipL', 'text_encoder', 0, 'quick_gelu'),
    clipG: clip('clipG', 'text_encoder_2', 1, 'gelu'),
    t5,
    scheduler: schedulerFile && existsSync(schedulerFile) ? schedulerConfig(readJsonObject(schedulerFile)) : SD3_SCHEDULER,
  };
}
