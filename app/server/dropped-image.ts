// A file dropped on the studio: read the generation settings out of its PNG metadata, or say in plain
// words why there are none (not an image, an image of another format, a PNG without metadata).
import { isPng, PngFormatError } from '../../pipelines/metadata/png-chunks.ts';
import { readImageMetadata } from '../../pipelines/metadata/read-metadata.ts';
import type { ResultOf } from '../../pipelines/jobs/api-studio.ts';
import { BadRequestError } from './dispatch.ts';

const WHO_WRITES = 'Drop a PNG made by Diffusion Studio, A1111, ComfyUI or InvokeAI';

const SIGNATURES: [format: string, test: (b: Uint8Array) => boolean][] = [
  ['a JPEG image', (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff],
  ['a WebP image', (b) => ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 12) === 'WEBP'],
  ['a GIF image', (b) => ascii(b, 0, 4) === 'GIF8'],
];

function ascii(b: Uint8Array, from: number, to: number): string {
  return String.fromCharCode(...b.subarray(from, to));
}

export function readDroppedImage(name: string, bytes: Uint8Array): ResultOf<'readImageMetadata'> {
  if (bytes.length === 0) throw new BadRequestError(`"${name}" is empty. ${WHO_WRITES}.`);
  if (!isPng(bytes)) {
    const format = SIGNATURES.find(([, test]) => test(bytes))?.[0];
    const what = format ? `is ${format}, not a PNG` : 'is not a PNG image';
    throw new BadRequestError(`"${name}" ${what}, so the studio cannot read generation settings from it. ${WHO_WRITES}.`);
  }
  try {
    const meta = readImageMetadata(bytes, `"${name}"`);
    const warnings = [...meta.warnings];
    if (!meta.settings) warnings.push(`"${name}" is a PNG without generation settings (no studio, A1111, ComfyUI or InvokeAI metadata in it)`);
    return { settings: meta.settings, request: meta.studio?.request, warnings };
  } catch (e) {
    if (e instanceof PngFormatError) throw new BadRequestError(`${e.message}. ${WHO_WRITES}.`);
    throw e;
  }
}
