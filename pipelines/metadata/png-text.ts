// PNG text chunks (tEXt, zTXt, iTXt): read them all, and set some, the way Pillow does it (which is
// what A1111, ComfyUI and InvokeAI write with): tEXt when the text fits Latin-1, otherwise iTXt in UTF-8.
import { isAscii, isUtf8 } from 'node:buffer';
import { deflateSync, inflateSync } from 'node:zlib';
import { PngFormatError, readChunks, writeChunks, type PngChunk } from './png-chunks.ts';

export interface PngTextEntry {
  keyword: string;
  text: string;
  chunkType: 'tEXt' | 'zTXt' | 'iTXt';
}

const TEXT_TYPES = new Set(['tEXt', 'zTXt', 'iTXt']);
/**
 * Decompressed text a whole file may hold (not per chunk: 16 chunks of 64 MiB each cost 57 s and
 * 1.26 GiB). Generation metadata is kilobytes; a large ComfyUI workflow is a MiB or two.
 */
export const MAX_INFLATED_BYTES_PER_FILE = 8 * 1024 * 1024;

/** What one file's text chunks may still inflate to. */
class InflateBudget {
  constructor(private left = MAX_INFLATED_BYTES_PER_FILE) {}

  inflate(bytes: Uint8Array, where: string): Uint8Array {
    if (this.left === 0) throw new PngFormatError(`${where}: the file's text chunks decompress to more than ${MAX_INFLATED_BYTES_PER_FILE} bytes in all (a decompression bomb, or not generation metadata)`);
    let out: Uint8Array;
    try {
      out = inflateSync(bytes, { maxOutputLength: this.left, chunkSize: 1024 * 1024 });
    } catch (e) {
      const tooLarge = (e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
      throw new PngFormatError(
        tooLarge
          ? `${where}: the file's text chunks decompress to more than ${MAX_INFLATED_BYTES_PER_FILE} bytes in all (a decompression bomb, or not generation metadata)`
          : `${where}: cannot decompress (${(e as Error).message})`,
      );
    }
    this.left -= out.length;
    return out;
  }
}

const latin1Decoder = new TextDecoder('latin1');
const utf8Decoder = new TextDecoder('utf-8');

function isLatin1(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0xff) return false;
  return true;
}

function latin1Bytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

/** PNG keywords: 1-79 printable Latin-1 characters, no leading, trailing or double spaces. */
export function checkKeyword(keyword: string): void {
  const printable = [...keyword].every((ch) => {
    const c = ch.charCodeAt(0);
    return (c >= 32 && c <= 126) || (c >= 161 && c <= 255);
  });
  if (keyword.length < 1 || keyword.length > 79 || !printable || /^ | $| {2}/.test(keyword)) {
    throw new PngFormatError(`invalid PNG text keyword ${JSON.stringify(keyword)}: use 1-79 printable Latin-1 characters`);
  }
}

/**
 * tEXt is Latin-1 by the standard, but some writers put UTF-8 bytes there; text that is valid
 * multi-byte UTF-8 is read as UTF-8 (a Latin-1 text is almost never valid UTF-8 by accident).
 */
function decodeTextBytes(bytes: Uint8Array): string {
  // Node's native checks: a per-byte JavaScript callback took a second on a 13 MB text.
  if (isAscii(bytes)) return latin1Decoder.decode(bytes);
  return isUtf8(bytes) ? utf8Decoder.decode(bytes) : latin1Decoder.decode(bytes);
}

function decodeTextChunk(chunk: PngChunk, source: string, budget: InflateBudget): PngTextEntry {
  const d = chunk.data;
  const nul = d.indexOf(0);
  if (nul < 1) throw new PngFormatError(`${source}: ${chunk.type} chunk without a keyword`);
  const keyword = latin1Decoder.decode(d.subarray(0, nul));
  const where = `${source}: ${chunk.type} chunk "${keyword}"`;
  if (chunk.type === 'tEXt') return { keyword, text: decodeTextBytes(d.subarray(nul + 1)), chunkType: 'tEXt' };
  if (chunk.type === 'zTXt') {
    if (d[nul + 1] !== 0) throw new PngFormatError(`${where}: unknown compression method ${d[nul + 1]}`);
    return { keyword, text: decodeTextBytes(budget.inflate(d.subarray(nul + 2), where)), chunkType: 'zTXt' };
  }
  // iTXt: keyword \0 flag method language \0 translated-keyword \0 text
  const compressed = d[nul + 1] === 1;
  const langEnd = d.indexOf(0, nul + 3);
  const transEnd = langEnd < 0 ? -1 : d.indexOf(0, langEnd + 1);
  if (transEnd < 0) throw new PngFormatError(`${where}: malformed iTXt header`);
  if (compressed && d[nul + 2] !== 0) throw new PngFormatError(`${where}: unknown compression method ${d[nul + 2]}`);
  const body = d.subarray(transEnd + 1);
  return { keyword, text: utf8Decoder.decode(compressed ? budget.inflate(body, where) : body), chunkType: 'iTXt' };
}

/** Every text chunk of a PNG file, in file order. */
export function readPngText(png: Uint8Array, source = 'PNG data'): PngTextEntry[] {
  const budget = new InflateBudget();
  return readChunks(png, source)
    .filter((c) => TEXT_TYPES.has(c.type))
    .map((c) => decodeTextChunk(c, source, budget));
}

/** The text chunks as keyword → text (the first chunk wins when a keyword repeats, as Pillow does). */
export function readPngTextMap(png: Uint8Array, source = 'PNG data'): Map<string, string> {
  const map = new Map<string, string>();
  for (const e of readPngText(png, source)) if (!map.has(e.keyword)) map.set(e.keyword, e.text);
  return map;
}

/** One text chunk: tEXt for Latin-1 text, iTXt (UTF-8, deflated when `compress`) otherwise. */
export function encodeTextChunk(keyword: string, text: string, options: { compress?: boolean } = {}): PngChunk {
  checkKeyword(keyword);
  const key = latin1Bytes(keyword);
  if (isLatin1(text) && !options.compress) {
    return { type: 'tEXt', data: concatBytes([key, Uint8Array.of(0), latin1Bytes(text)]) };
  }
  const body = new TextEncoder().encode(text);
  const flag = options.compress ? 1 : 0;
  // flag, method, empty language tag \0, empty translated keyword \0
  const header = Uint8Array.of(0, flag, 0, 0, 0);
  return { type: 'iTXt', data: concatBytes([key, header, options.compress ? deflateSync(body) : body]) };
}

/**
 * Returns a copy of `png` whose text chunks for the given keywords are replaced by `entries`
 * (other text chunks are kept). New chunks go before the first IDAT so streaming readers see them.
 */
export function setPngText(
  png: Uint8Array,
  entries: ReadonlyArray<readonly [keyword: string, text: string]>,
  options: { compress?: boolean; source?: string } = {},
): Uint8Array {
  const source = options.source ?? 'PNG data';
  const replaced = new Set(entries.map(([k]) => k));
  const budget = new InflateBudget();
  const kept = readChunks(png, source).filter((c) => !(TEXT_TYPES.has(c.type) && replaced.has(decodeTextChunk(c, source, budget).keyword)));
  const added = entries.map(([k, t]) => encodeTextChunk(k, t, options));
  const at = kept.findIndex((c) => c.type === 'IDAT');
  if (at < 0) throw new PngFormatError(`${source} has no IDAT chunk`);
  return writeChunks([...kept.slice(0, at), ...added, ...kept.slice(at)]);
}

/** The parts joined into one array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}
