// PNG container: split a file into chunks and join chunks back, with the CRC-32 every chunk carries.
// (zlib.crc32 exists only from Node 22, and the packages that do this are small and unmaintained,
// so the ~20 lines of table-driven CRC live here.)

export const PNG_SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

export interface PngChunk {
  /** Four ASCII letters, e.g. 'IHDR', 'tEXt'. */
  type: string;
  data: Uint8Array;
}

export class PngFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PngFormatError';
  }
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (ISO 3309 / ITU-T V.42, the one PNG and zlib use); `crc` continues a running value. */
export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

function typeBytes(type: string): Uint8Array {
  if (!/^[A-Za-z]{4}$/.test(type)) throw new PngFormatError(`chunk type must be four ASCII letters, got ${JSON.stringify(type)}`);
  return new TextEncoder().encode(type);
}

export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b);
}

/** Splits a PNG file into its chunks, checking lengths and CRCs. `source` names the file in errors. */
export function readChunks(bytes: Uint8Array, source = 'PNG data'): PngChunk[] {
  if (!isPng(bytes)) throw new PngFormatError(`${source} is not a PNG file (the 8-byte PNG signature is missing)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const chunks: PngChunk[] = [];
  let pos = 8;
  while (pos < bytes.length) {
    if (pos + 12 > bytes.length) throw new PngFormatError(`${source} is truncated inside a chunk header at byte ${pos}`);
    const length = view.getUint32(pos);
    const type = String.fromCharCode(...bytes.subarray(pos + 4, pos + 8));
    const end = pos + 12 + length;
    if (end > bytes.length) throw new PngFormatError(`${source} is truncated: chunk ${type} at byte ${pos} needs ${length} bytes`);
    const stored = view.getUint32(pos + 8 + length);
    const actual = crc32(bytes.subarray(pos + 4, pos + 8 + length));
    if (stored !== actual) throw new PngFormatError(`${source} is damaged: chunk ${type} at byte ${pos} fails its CRC check`);
    chunks.push({ type, data: bytes.subarray(pos + 8, pos + 8 + length) });
    pos = end;
    if (type === 'IEND') break;
  }
  if (chunks[0]?.type !== 'IHDR') throw new PngFormatError(`${source} does not start with an IHDR chunk`);
  return chunks;
}

/** Joins chunks into a PNG file, computing lengths and CRCs. */
export function writeChunks(chunks: readonly PngChunk[]): Uint8Array {
  const size = 8 + chunks.reduce((n, c) => n + 12 + c.data.length, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out.set(PNG_SIGNATURE, 0);
  let pos = 8;
  for (const chunk of chunks) {
    view.setUint32(pos, chunk.data.length);
    out.set(typeBytes(chunk.type), pos + 4);
    out.set(chunk.data, pos + 8);
    view.setUint32(pos + 8 + chunk.data.length, crc32(out.subarray(pos + 4, pos + 8 + chunk.data.length)));
    pos += 12 + chunk.data.length;
  }
  return out;
}
