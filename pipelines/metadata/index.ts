// PNG metadata: write A1111 + studio chunks, read studio / A1111 / ComfyUI / InvokeAI chunks.
export { crc32, readChunks, writeChunks, isPng, PngFormatError, type PngChunk } from './png-chunks.ts';
export { readPngText, readPngTextMap, setPngText, encodeTextChunk, type PngTextEntry } from './png-text.ts';
export { encodePng, type RgbImage } from './encode-png.ts';
export { formatA1111, parseA1111, quoteA1111Value, A1111_KEYWORD, type A1111Parameters, type A1111Text } from './a1111.ts';
export { parseComfyUI, type ComfyMetadata } from './comfyui.ts';
export { parseInvokeAI, type InvokeMetadata } from './invokeai.ts';
export {
  decodeStudioMetadata,
  encodeStudioMetadata,
  requestFromStudioMetadata,
  StudioMetadataError,
  StudioMetadataSchema,
  STUDIO_KEYWORD,
  STUDIO_METADATA_VERSION,
  type StudioMetadata,
} from './studio-chunk.ts';
export { a1111Parameters, metadataChunks, modelLabel, studioMetadata, type GenerationRecord } from './generation-metadata.ts';
export { readImageMetadata, type ImageMetadata } from './read-metadata.ts';
export { sha256File, shortHash } from './model-hash.ts';
export { toA1111Sampler, fromA1111Sampler, fromComfySampler, fromInvokeScheduler } from './sampler-names.ts';
export type { ImportedSettings, MetadataSource } from './settings.ts';
