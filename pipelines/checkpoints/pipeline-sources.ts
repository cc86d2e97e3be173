// What loading an SD-family model yields, whatever its layout: tensor sources under diffusers / HF
// names, configs, the scheduler config as data, and where the tokenizers are.
import type { ClipTextConfig } from '../models/clip/config.ts';
import type { VaeConfig } from '../models/vae/config.ts';
import type { ClipPad } from '../text/clip-tokenizer.ts';
import type { SchedulerSpec, TextConditioning } from './signature.ts';
import type { JsonObject } from './json-fields.ts';
import type { KeyedSource } from './sources.ts';

export type PredictionType = 'epsilon' | 'v_prediction' | 'sample';

export interface PipelineSources {
  /** The Stable Diffusion family's id (pipelines/families: sd1, sd2, sdxl). */
  family: string;
  layout: 'diffusers' | 'single-file';
  /** The path given (a folder or a .safetensors file). */
  path: string;
  /** One sentence for people: what was loaded. */
  description: string;
  /** UNet tensors under diffusers UNet2DConditionModel names. */
  unet: KeyedSource;
  /** VAE tensors under diffusers AutoencoderKL names (the `--vae` file's when one was given). */
  vae: KeyedSource;
  /** Text encoders in pipeline order, under the names models/clip reads. */
  textEncoders: KeyedSource[];
  /** diffusers `unet/config.json` (built from the tensors' shapes and family defaults for single files). */
  unetConfig: JsonObject;
  vaeConfig: VaeConfig;
  textConfigs: ClipTextConfig[];
  /** diffusers scheduler config (`scheduler/scheduler_config.json` or the family's). */
  scheduler: SchedulerSpec;
  predictionType: PredictionType;
  /** How `predictionType` was decided (config file, checkpoint marker, metadata, weight statistics, default). */
  predictionReason: string;
  /** Folder of each text encoder's tokenizer (vocab.json + merges.txt), in pipeline order. */
  tokenizerDirs: string[];
  /** Padding token of each tokenizer: `!` for OpenCLIP encoders. */
  tokenizerPads: ClipPad[];
  /** The family's text conditioning traits. */
  textConditioning: TextConditioning;
}

export interface LoadOptions {
  /** The studio's models directory: `<models dir>/tokenizers/clip/` holds a shared CLIP tokenizer. */
  modelsDir?: string;
  /** A VAE to use instead of the model's: a .safetensors file (either layout) or a diffusers VAE folder. */
  vae?: string;
  /**
   * For single files: a diffusers folder of the same architecture whose configs give what tensor
   * shapes cannot (attention heads, scheduler). Default: a folder beside the file named like it
   * (`model.safetensors` → `model/`) when that has a model_index.json.
   */
  configDir?: string;
  /** Overrides the detected prediction type. */
  predictionType?: PredictionType;
}
