// Public surface of checkpoint loading.
export { loadPipelineSources, resolveModelPath, NotAModelError } from './load.ts';
export type { PipelineSources, LoadOptions, PredictionType } from './pipeline-sources.ts';
export { detectPath, detectTensorNames, detectFolder, type Family, type Detection } from './detect.ts';
export { MissingTokenizerError } from './tokenizers.ts';
export { unetOriginalToDiffusers, unetDiffusersToOriginal, type UnetLayout } from './keymap-unet.ts';
export { vaeOriginalToDiffusers } from './keymap-vae.ts';
export type { KeyedSource } from './sources.ts';
export type { CheckpointSignature, SchedulerSpec, SdCheckpointProfile, TextConditioning } from './signature.ts';
