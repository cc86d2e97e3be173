// What a model family tells checkpoint reading: how to recognise its files and folders and, for the
// Stable Diffusion families, the configs a single file lacks. Each family declares its own in
// pipelines/families/<id>/checkpoint.ts (data only); ./signatures.ts lists them.
import type { JsonObject } from './json-fields.ts';

export interface CheckpointSignature {
  id: string;
  /** What a single file of this family holds, told from its tensor names; undefined: not this family. */
  recogniseFile(keys: readonly string[]): string | undefined;
  /** What a diffusers folder holds, told from model_index.json's class (and its files); undefined: not this family. */
  recogniseFolder?(className: string, dir: string): string | undefined;
  /** Its checkpoints may be PyTorch .pt files (read without running pickle code). */
  readsTorchPt?: boolean;
}

export interface SchedulerSpec {
  className: string;
  config: JsonObject;
}

export interface TextEncoderDefaults {
  /** Where the encoder sits in the single file, and in which layout. */
  prefix: string;
  layout: 'hf' | 'openclip';
  hiddenAct: 'quick_gelu' | 'gelu';
  /** Layers a single file holds that diffusers' config leaves out (SD 2.x uses OpenCLIP's penultimate layer). */
  droppedFinalLayers: number;
  /** HF config.json `architectures` of the diffusers folder's encoder. */
  withProjection: boolean;
}

/** How a family conditions on text, beyond its encoders' weights (diffusers' pipeline defaults). */
export interface TextConditioning {
  /** Condition on the penultimate encoder layer without the final LayerNorm (SDXL: hidden_states[-2]). */
  penultimateLayer: boolean;
  /** An empty negative prompt leaves the unconditional row at zeros (diffusers' force_zeros_for_empty_prompt). */
  zeroEmptyNegative: boolean;
  /** The last encoder's pooled, projected embedding is a UNet input too (SDXL's text_embeds). */
  pooledTextEmbeds: boolean;
}

/** How a Stable Diffusion family's checkpoints are read (single files carry no config: these fill in). */
export interface SdCheckpointProfile extends CheckpointSignature {
  /** For messages: "SD 1.x". */
  name: string;
  scheduler(predictionType: string): SchedulerSpec;
  unetConfig(): JsonObject;
  vaeConfig(): JsonObject;
  /** The text encoders of a single file, in order. */
  textEncoders: readonly TextEncoderDefaults[];
  /** The text encoders' folders in a diffusers pipeline folder. */
  textEncoderFolders: readonly string[];
  /** Token padding of each tokenizer: `!` for OpenCLIP encoders. */
  pads: readonly ('eos' | '!')[];
  /** Conditioning traits the pipeline follows (see PipelineSources). */
  textConditioning: TextConditioning;
  /** diffusers' `attention_head_dim` (for these UNets the head count) from the block widths of a file without config. */
  headCounts(channels: readonly number[], source: string): number | number[];
  /** Single files may hide v-prediction, told only by a weight statistic (SD 2.x). */
  predictionFromWeights?: boolean;
  /** Single files without a config folder: the UNet settings that follow the prediction type. */
  unetForPrediction?(unet: JsonObject, predictionType: string): void;
}
