// A batch job's images as PNG files with their generation metadata: shared by the local batch runner
// (which writes them) and the Redis worker (which sends the bytes back in the job's result).
import { statSync } from 'node:fs';
import { encodePng } from '../../metadata/encode-png.ts';
import { metadataChunks, recordedFiles, type GenerationRecord } from '../../metadata/generation-metadata.ts';
import { sha256File } from '../../metadata/model-hash.ts';
import type { GenerateRequest, GenerateResult } from '../api.ts';

export interface EncodedImage {
  batchIndex: number;
  seed: number;
  width: number;
  height: number;
  png: Uint8Array;
}

/** The engine is another component: check what it returned before writing files from it. */
export function checkResult(result: GenerateResult, request: GenerateRequest): void {
  if (!Array.isArray(result?.images) || result.images.length !== request.batch) {
    throw new Error(`the engine returned ${result?.images?.length ?? 'no'} images for a batch of ${request.batch}`);
  }
  for (const [i, img] of result.images.entries()) {
    if (!(img.pixels instanceof Uint8Array) || img.pixels.length !== img.width * img.height * 3) {
      throw new Error(`engine image ${i}: expected ${img.width}x${img.height} RGB bytes, got ${img.pixels?.length ?? 'none'}`);
    }
    if (!Number.isInteger(img.batchIndex) || img.batchIndex < 0 || img.batchIndex >= request.batch) throw new Error(`engine image ${i}: batch index ${img.batchIndex} is out of range`);
  }
}

/** SHA-256 of model files (A1111's Model hash), once per file per batch. */
export class FileHashes {
  private readonly hashes = new Map<string, Promise<string | undefined>>();
  of(path: string | undefined): Promise<string | undefined> {
    if (path === undefined) return Promise.resolve(undefined);
    let h = this.hashes.get(path);
    if (!h) this.hashes.set(path, (h = statSync(path, { throwIfNoEntry: false })?.isFile() ? sha256File(path) : Promise.resolve(undefined)));
    return h;
  }
}

/** Each image of `result` as a PNG carrying the request, model and provider in its text chunks. */
export async function encodeImages(request: GenerateRequest, result: GenerateResult, hashes: FileHashes, studioVersion: string): Promise<EncodedImage[]> {
  checkResult(result, request);
  const files = await recordedFiles(result, request, (path) => hashes.of(path));
  const encoded: EncodedImage[] = [];
  for (const image of result.images) {
    const { batchIndex, seed, width, height } = image;
    const record: GenerationRecord = {
      request,
      image: { batchIndex, seed, width, height },
      ...files,
      ep: result.ep,
      studioVersion,
    };
    encoded.push({ batchIndex, seed, width, height, png: await encodePng(image, metadataChunks(record)) });
  }
  return encoded;
}
