// The generation settings every metadata reader extracts, whatever app wrote the image.
import type { ControlPreprocessor, HiresUpscaler, ImageFiles, SamplerName } from '../jobs/api.ts';

export type MetadataSource = 'studio' | 'a1111' | 'comfyui' | 'invokeai';

export interface ImportedSettings {
  source: MetadataSource;
  prompt?: string;
  negativePrompt?: string;
  steps?: number;
  cfgScale?: number;
  seed?: number;
  width?: number;
  height?: number;
  /** The sampler as the source app names it. */
  sampler?: string;
  /** The source app's schedule / scheduler name, where it keeps one apart from the sampler. */
  scheduler?: string;
  /** Our sampler name, when the source's sampler has an equivalent here. */
  studioSampler?: SamplerName;
  model?: string;
  modelHash?: string;
  denoisingStrength?: number;
  clipSkip?: number;
  /**
   * A hires fix (A1111's): the scale, the second pass's steps (absent: the first pass's), the upscaler as the source
   * names it and ours when one is the same.
   */
  hiresFix?: { scale: number; steps?: number; upscaler?: string; studioUpscaler?: HiresUpscaler };
  /** The model, LoRAs and embeddings the image names, with their hashes where it recorded them. */
  files?: ImageFiles;
  /** ControlNet units as the source recorded them (A1111's ControlNet extension); their control images are not kept. */
  controlNets?: ImportedControlUnit[];
  /** An image prompt (the ControlNet extension's IP-Adapter unit): the adapter's name and weight; no reference image. */
  ipAdapter?: { model: string; weight: number };
}

export interface ImportedControlUnit {
  /** The preprocessor as the source names it (`canny`, `depth_midas`, `none`…), and ours where one is the same. */
  module: string;
  studioPreprocess?: ControlPreprocessor;
  /** The ControlNet's name, without A1111's ` [hash]`. */
  model: string;
  weight: number;
  start: number;
  end: number;
  /** A1111's "ControlNet is more important" control mode, which the studio writes for guess mode. */
  guessMode: boolean;
}

/** A finite number from a JSON value or a numeric string; undefined otherwise. */
export function toNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

export function toInteger(value: unknown): number | undefined {
  const n = toNumber(value);
  return n !== undefined && Number.isInteger(n) ? n : undefined;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The JSON value of a text chunk; undefined when the chunk is missing or is not valid JSON. */
export function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Drops undefined fields so results compare and print cleanly. */
export function compact<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
