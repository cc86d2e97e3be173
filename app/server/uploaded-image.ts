// Images the UI sends as bytes (a painted mask, a control image dropped or picked from disk): the engine
// reads images from files, so each is written into a sub-folder of the outputs folder, named by its
// content (the same image is one file), and requests point at it. The gallery lists only the outputs
// folder itself, so these stay out of it.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { isPng } from '../../pipelines/metadata/png-chunks.ts';
import { BadRequestError } from './dispatch.ts';

/** `bytes` as `<outputsDir>/<folder>/<prefix><hash>.<ext>`; returns the file's path. */
export function storeByContent(outputsDir: string, folder: string, prefix: string, bytes: Uint8Array, ext: string): string {
  const dir = join(outputsDir, folder);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${prefix}${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}.${ext}`);
  if (!existsSync(file)) writeFileSync(file, bytes);
  return file;
}

/** The image formats a control image may come in, by their first bytes. */
function imageExtension(bytes: Uint8Array): string | undefined {
  if (isPng(bytes)) return 'png';
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpg';
  const ascii = (from: number, to: number) => String.fromCharCode(...bytes.subarray(from, to));
  if (bytes.length > 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'webp';
  return undefined;
}

/** A control image sent by the UI, stored under the outputs folder's uploads/; returns its path inside the outputs folder. */
export function storeUploadedImage(outputsDir: string, name: string, dataBase64: string): string {
  const bytes = Buffer.from(dataBase64, 'base64');
  const ext = imageExtension(bytes);
  if (!ext) throw new BadRequestError(`${name}: not a PNG, JPEG or WebP image; give the control image in one of those formats`);
  const file = storeByContent(outputsDir, 'uploads', 'image-', bytes, ext);
  return `uploads/${basename(file)}`;
}
