// Configs of single-file checkpoints: every structural value that tensor shapes determine is read
// from them, so fine-tunes of other widths or depths load. What shapes cannot tell (attention head
// counts, norm groups) comes from a given diffusers config when there is one, else the family default.
// A given config is checked against the shapes, and a mismatch names the field and the tensor.
import { clipTextConfigFromHf, type ClipTextConfig } from '../models/clip/config.ts';
import { vaeConfigFromDiffusers, type VaeConfig } from '../models/vae/config.ts';
import type { JsonObject } from './json-fields.ts';
import { countIndexed, indicesUnder, shapeOf, type KeyedSource } from './sources.ts';
import type { SdCheckpointProfile, TextEncoderDefaults } from './signature.ts';

export class ConfigMismatchError extends Error {
  constructor(source: string, field: string, fromShapes: unknown, given: unknown, givenBy: string) {
    super(`${source}: the tensors say ${field} = ${JSON.stringify(fromShapes)} but ${givenBy} says ${JSON.stringify(given)}: the config does not belong to this checkpoint`);
    this.name = 'ConfigMismatchError';
  }
}

/** Per-level list for values diffusers allows as one number or a list. */
const perLevel = (v: unknown, levels: number): unknown => (typeof v === 'number' ? Array(levels).fill(v) : v);
const collapse = (xs: number[]): number | number[] => (xs.every((x) => x === xs[0]) ? xs[0] : xs);

/** `inferred` over `base`; with a `given` config, that config after checking it against `inferred`. */
function settle(source: string, inferred: JsonObject, base: JsonObject, given: { json: JsonObject; file: string } | undefined, levels: number): JsonObject {
  if (!given) return { ...base, ...inferred };
  for (const [field, value] of Object.entries(inferred)) {
    const g = given.json[field] ?? base[field];
    const same = JSON.stringify(perLevel(value, levels)) === JSON.stringify(perLevel(g, levels));
    if (!same) throw new ConfigMismatchError(source, field, value, g, given.file);
  }
  return { ...base, ...given.json };
}

export interface GivenConfig {
  json: JsonObject;
  file: string;
}

/** diffusers UNet2DConditionModel config of a UNet source with diffusers names. */
export function resolveUnetConfig(src: KeyedSource, profile: SdCheckpointProfile, given?: GivenConfig, pooledTextDim?: number): JsonObject {
  const keys = src.keys();
  const levels = indicesUnder(keys, 'down_blocks.');
  const upLevels = indicesUnder(keys, 'up_blocks.');
  const attentionDepth = (block: string) => countIndexed(src, `${block}.attentions.0.transformer_blocks.`, '.norm1.weight');
  const channels = levels.map((i) => shapeOf(src, `down_blocks.${i}.resnets.0.conv2.weight`)[0]);
  const inferred: JsonObject = {
    in_channels: shapeOf(src, 'conv_in.weight')[1],
    out_channels: shapeOf(src, 'conv_out.weight')[0],
    block_out_channels: channels,
    layers_per_block: countIndexed(src, 'down_blocks.0.resnets.', '.conv1.weight'),
    down_block_types: levels.map((i) => (attentionDepth(`down_blocks.${i}`) > 0 ? 'CrossAttnDownBlock2D' : 'DownBlock2D')),
    up_block_types: upLevels.map((i) => (attentionDepth(`up_blocks.${i}`) > 0 ? 'CrossAttnUpBlock2D' : 'UpBlock2D')),
    transformer_layers_per_block: collapse(levels.map((i) => attentionDepth(`down_blocks.${i}`) || 1)),
  };
  const crossKey = keys.find((k) => k.endsWith('.attn2.to_k.weight'));
  if (crossKey) inferred.cross_attention_dim = shapeOf(src, crossKey)[1];
  const projIn = keys.find((k) => /attentions\.\d+\.proj_in\.weight$/.test(k));
  if (projIn) inferred.use_linear_projection = shapeOf(src, projIn).length === 2;
  if (src.has('add_embedding.linear_1.weight')) {
    const addIn = shapeOf(src, 'add_embedding.linear_1.weight')[1];
    inferred.addition_embed_type = 'text_time';
    inferred.projection_class_embeddings_input_dim = addIn;
    // text_time embeds pooled text (width of the 2nd encoder's projection) ‖ 6 Fourier-embedded size values.
    if (pooledTextDim !== undefined && (addIn - pooledTextDim) % 6 === 0) inferred.addition_time_embed_dim = (addIn - pooledTextDim) / 6;
  }
  const base = profile.unetConfig();
  const config = settle(src.path, inferred, base, given, levels.length);
  if (!given) config.attention_head_dim = profile.headCounts(channels, src.path);
  return config;
}

/** AutoencoderKL config of a VAE source with diffusers names. */
export function resolveVaeConfig(src: KeyedSource, profile: Pick<SdCheckpointProfile, 'id' | 'vaeConfig'>, given?: GivenConfig): VaeConfig {
  const keys = src.keys();
  const levels = indicesUnder(keys, 'encoder.down_blocks.');
  const inferred: JsonObject = {
    in_channels: shapeOf(src, 'encoder.conv_in.weight')[1],
    out_channels: shapeOf(src, 'decoder.conv_out.weight')[0],
    latent_channels: shapeOf(src, 'decoder.conv_in.weight')[1],
    block_out_channels: levels.map((i) => shapeOf(src, `encoder.down_blocks.${i}.resnets.0.conv2.weight`)[0]),
    layers_per_block: countIndexed(src, 'encoder.down_blocks.0.resnets.', '.conv1.weight'),
    mid_block_add_attention: keys.some((k) => k.startsWith('decoder.mid_block.attentions.0.')),
    use_quant_conv: src.has('quant_conv.weight'),
    use_post_quant_conv: src.has('post_quant_conv.weight'),
  };
  const base = profile.vaeConfig();
  base.down_block_types = levels.map(() => 'DownEncoderBlock2D');
  base.up_block_types = levels.map(() => 'UpDecoderBlock2D');
  const json = settle(src.path, inferred, base, given, levels.length);
  return vaeConfigFromDiffusers(json, given?.file ?? `built-in ${profile.id} VAE config`);
}

/** CLIP text config of a text-encoder source with canonical names (see models/clip/text-model.ts). */
export function resolveClipConfig(src: KeyedSource, defaults: TextEncoderDefaults, given?: GivenConfig): ClipTextConfig {
  const [vocab, hidden] = shapeOf(src, 'embeddings.token_embedding.weight');
  const layersInFile = countIndexed(src, 'encoder.layers.', '.layer_norm1.weight');
  const projection = src.has('text_projection.weight')
    ? shapeOf(src, 'text_projection.weight')[0]
    : src.has('text_projection')
      ? shapeOf(src, 'text_projection')[1]
      : undefined;
  const inferred: JsonObject = {
    vocab_size: vocab,
    hidden_size: hidden,
    max_position_embeddings: shapeOf(src, 'embeddings.position_embedding.weight')[0],
    num_hidden_layers: layersInFile - defaults.droppedFinalLayers,
    intermediate_size: shapeOf(src, 'encoder.layers.0.mlp.fc1.weight')[0],
  };
  if (defaults.withProjection && projection !== undefined) inferred.projection_dim = projection;
  const base: JsonObject = {
    architectures: [defaults.withProjection ? 'CLIPTextModelWithProjection' : 'CLIPTextModel'],
    hidden_act: defaults.hiddenAct,
    layer_norm_eps: 1e-5,
  };
  if (!given) {
    if (hidden % 64 !== 0) {
      throw new Error(`${src.path}: cannot tell the text encoder's head count (width ${hidden} is not a multiple of the usual head width 64); ${configAdvice(src.path)}`);
    }
    base.num_attention_heads = hidden / 64;
  }
  // A given config may use fewer layers than the file holds (SD 2.x's diffusers config has 23 of
  // OpenCLIP's 24), or all of them (as diffusers' from_single_file does when its config says so).
  const givenLayers = given?.json.num_hidden_layers;
  if (typeof givenLayers === 'number' && givenLayers <= layersInFile) inferred.num_hidden_layers = givenLayers;
  const json = settle(src.path, inferred, base, given, 1);
  return clipTextConfigFromHf(json, given?.file ?? 'built-in text encoder config');
}

/** What to do when a single file's tensors cannot tell a setting: where its config folder goes. */
export function configAdvice(file: string): string {
  const folder = file.replace(/\.safetensors$/i, '');
  return `put the model's diffusers config folder (model_index.json, unet/, text_encoder/, scheduler/) beside it as ${folder}/, or give one with --config FILE_OR_DIR`;
}
