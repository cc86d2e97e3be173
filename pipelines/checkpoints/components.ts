// A model's parts, from a diffusers folder, or from a single file completed by a components folder: the
// parts a file lacks (VAE, text encoders, tokenizers, configs) come from a diffusers folder of the same
// family beside the file and named like it (`model.safetensors` → `model/`), or one given (`--config DIR`).
// SD3 single files and FLUX folders and files read theirs here.
import { existsSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { SafetensorsFile } from '../io/safetensors.ts';
import { clipTextConfigFromHf, type ClipTextConfig } from '../models/clip/config.ts';
import { t5ConfigFromHf, type T5Config } from '../models/t5/config.ts';
import { vaeConfigFromDiffusers, type VaeConfig } from '../models/vae/config.ts';
import type { ClipPad } from '../text/clip-tokenizer.ts';
import { canonicalTextEncoder, componentWeights } from './diffusers-folder.ts';
import { resolveClipConfig, resolveVaeConfig } from './infer-config.ts';
import { readJsonObject, type JsonObject } from './json-fields.ts';
import { originalVae } from './single-file.ts';
import { countIndexed, shapeOf, withoutPrefix, type KeyedSource } from './sources.ts';
import { findTokenizerDir } from './tokenizers.ts';

/** A CLIP text encoder ready to load: weights under canonical names, config and tokenizer folder. */
export interface ClipPart {
  source: KeyedSource;
  config: ClipTextConfig;
  /** Folder with vocab.json + merges.txt. */
  tokenizerDir: string;
  /** Padding when the tokenizer folder does not say (a shared CLIP tokenizer): CLIP-G pads with `!`. */
  pad?: ClipPad;
}

/** HF T5Config from the tensors (HF names), for files that bring no config. */
export function t5ConfigFromTensors(src: KeyedSource): T5Config {
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

/** A model's parts: a single file with the components folder beside it (or given), or a diffusers folder alone. */
export class ModelParts {
  /** Where a components folder is looked for by default: beside the file, named like it (the folder itself for a folder). */
  readonly sibling: string;
  readonly components?: string;

  private constructor(readonly path: string, readonly file?: SafetensorsFile, componentsDir?: string) {
    this.sibling = file ? join(dirname(path), basename(path, extname(path))) : path;
    this.components = file ? (componentsDir ?? (existsSync(join(this.sibling, 'model_index.json')) ? this.sibling : undefined)) : path;
  }

  static folder(dir: string): ModelParts {
    return new ModelParts(dir);
  }

  static singleFile(path: string, componentsDir?: string): ModelParts & { file: SafetensorsFile } {
    return new ModelParts(path, SafetensorsFile.open(path), componentsDir) as ModelParts & { file: SafetensorsFile };
  }

  inFile(prefix: string): boolean {
    return this.file?.keys().some((k) => k.startsWith(prefix)) ?? false;
  }

  /** The file's tensors under `prefix`, else the components folder's `component/`, else undefined. */
  part(prefix: string | undefined, component: string, base = 'model'): KeyedSource | undefined {
    if (this.file && prefix && this.inFile(prefix)) return withoutPrefix(this.file, prefix);
    return this.fromComponents(component, base);
  }

  fromComponents(component: string, base = 'model'): KeyedSource | undefined {
    return this.components && existsSync(join(this.components, component)) ? componentWeights(join(this.components, component), base) : undefined;
  }

  /** The components folder's `component/config.json`, when there is one. */
  config(component: string): { json: JsonObject; file: string } | undefined {
    const f = this.components && join(this.components, component, 'config.json');
    return f && existsSync(f) ? { json: readJsonObject(f), file: f } : undefined;
  }

  /** A folder holding T5's tokenizer.json: the components' `sub/`, else `<models dir>/tokenizers/t5/`. */
  t5Tokenizer(sub: string, modelsDir: string | undefined): string | undefined {
    return [this.components && join(this.components, sub), modelsDir && join(modelsDir, 'tokenizers', 't5')].find((d) => d && existsSync(join(d, 'tokenizer.json'))) || undefined;
  }

  /** The VAE: the file's `first_stage_model.*`, else the components' `vae/`; its config from there, else `defaults` + the shapes. */
  vae(family: { id: string; vaeConfig: () => JsonObject }): { source: KeyedSource; config: VaeConfig } | undefined {
    const source = this.file && this.inFile('first_stage_model.') ? originalVae(this.file) : this.fromComponents('vae', 'diffusion_pytorch_model');
    if (!source) return undefined;
    const given = this.config('vae');
    return { source, config: given ? vaeConfigFromDiffusers(given.json, given.file) : resolveVaeConfig(source, family) };
  }

  /** CLIP text encoder `index` (0 = tokenizer/, 1 = tokenizer_2/) from the file's `prefix` or the components' `component/`; undefined when neither has it. */
  clip(o: { prefix: string; component: string; index: number; hiddenAct: 'quick_gelu' | 'gelu'; pad: ClipPad; familyName: string; modelsDir?: string }): ClipPart | undefined {
    const weights = this.part(o.prefix, o.component);
    if (!weights) return undefined;
    const source = canonicalTextEncoder(weights);
    const given = this.config(o.component);
    const config = given ? clipTextConfigFromHf(given.json, given.file) : resolveClipConfig(source, { prefix: '', layout: 'hf', hiddenAct: o.hiddenAct, droppedFinalLayers: 0, withProjection: true });
    const tokenizerDir = findTokenizerDir(o.index, { modelDir: this.components, modelsDir: o.modelsDir, model: this.path, familyName: o.familyName });
    return { source, config, tokenizerDir, pad: o.pad };
  }

  /** T5 from the file's `prefix` or the components' `component/`, with its config; undefined when neither has it. */
  t5(prefix: string, component: string): { source: KeyedSource; config: T5Config } | undefined {
    const source = this.part(prefix, component);
    if (!source) return undefined;
    const given = this.config(component);
    return { source, config: given ? t5ConfigFromHf(given.json, given.file) : t5ConfigFromTensors(source) };
  }
}
