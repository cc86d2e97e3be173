// The central directory of a zip file (with zip64), and where a stored entry's bytes start. Enough for
// torch.save archives, whose entries are stored uncompressed so tensors can be read in place.
import { readSync } from 'node:fs';

export interface ZipEntry {
  name: string;
  /** 0 = stored; anything else is compressed. */
  method: number;
  flags: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

export class ZipError extends Error {
  constructor(readonly file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'ZipError';
  }
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const MAX_COMMENT = 0xffff;
const MAX_DIRECTORY_BYTES = 64 * 1024 * 1024;

export function readAt(fd: number, file: string, position: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n === 0) throw new ZipError(file, `unexpected end of file reading ${length} bytes at ${position} (truncated file)`);
    done += n;
  }
  return buf;
}

const u64 = (b: Buffer, at: number, file: string): number => {
  const v = b.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipError(file, 'a zip64 size or offset is implausibly large (corrupt archive)');
  return Number(v);
};

/** Locates the end-of-central-directory record in the last 64 KiB + 22 bytes of the file. */
function findEndRecord(fd: number, file: string, fileSize: number): { at: number; record: Buffer } {
  const tail = Math.min(fileSize, MAX_COMMENT + 22);
  const buf = readAt(fd, file, fileSize - tail, tail);
  for (let i = tail - 22; i >= 0; i--) {
    if (buf.readUInt32LE(i) === EOCD) return { at: fileSize - tail + i, record: buf.subarray(i, i + 22) };
  }
  throw new ZipError(file, 'not a zip archive (no end-of-central-directory record)');
}

/** Every entry of the archive by name. */
export function readZipDirectory(fd: number, file: string, fileSize: number): Map<string, ZipEntry> {
  const { at, record } = findEndRecord(fd, file, fileSize);
  let count = record.readUInt16LE(10);
  let dirSize = record.readUInt32LE(12);
  let dirOffset = record.readUInt32LE(16);
  if (count === 0xffff || dirSize === 0xffffffff || dirOffset === 0xffffffff) {
    const locator = at >= 20 ? readAt(fd, file, at - 20, 20) : undefined;
    if (!locator || locator.readUInt32LE(0) !== ZIP64_LOCATOR) throw new ZipError(file, 'zip64 archive without its zip64 locator (corrupt archive)');
    const z64 = readAt(fd, file, u64(locator, 8, file), 56);
    if (z64.readUInt32LE(0) !== ZIP64_EOCD) throw new ZipError(file, 'zip64 end record not where its locator says (corrupt archive)');
    count = u64(z64, 32, file);
    dirSize = u64(z64, 40, file);
    dirOffset = u64(z64, 48, file);
  }
  if (dirSize > MAX_DIRECTORY_BYTES || dirOffset + dirSize > fileSize) throw new ZipError(file, `central directory (${dirSize} bytes at ${dirOffset}) does not fit in the file (truncated or corrupt)`);
  const dir = readAt(fd, file, dirOffset, dirSize);
  const entries = new Map<string, ZipEntry>();
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > dir.length || dir.readUInt32LE(p) !== CENTRAL) throw new ZipError(file, `central directory entry ${i} is corrupt`);
    const nameLen = dir.readUInt16LE(p + 28);
    const extraLen = dir.readUInt16LE(p + 30);
    const commentLen = dir.readUInt16LE(p + 32);
    const entry: ZipEntry = {
      name: dir.toString('utf8', p + 46, p + 46 + nameLen),
      flags: dir.readUInt16LE(p + 8),
      method: dir.readUInt16LE(p + 10),
      compressedSize: dir.readUInt32LE(p + 20),
      size: dir.readUInt32LE(p + 24),
      localHeaderOffset: dir.readUInt32LE(p + 42),
    };
    applyZip64Extra(entry, dir.subarray(p + 46 + nameLen, p + 46 + nameLen + extraLen), file);
    entries.set(entry.name, entry);
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

/** Zip64 extra field (id 1): the 64-bit values of whichever fields hold 0xFFFFFFFF, in this order. */
function applyZip64Extra(entry: ZipEntry, extra: Buffer, file: string): void {
  for (let p = 0; p + 4 <= extra.length; ) {
    const id = extra.readUInt16LE(p);
    const len = extra.readUInt16LE(p + 2);
    if (id === 0x0001) {
      let q = p + 4;
      const next = (): number => {
        if (q + 8 > p + 4 + len) throw new ZipError(file, `zip64 field of entry ${entry.name} is too short (corrupt archive)`);
        const v = u64(extra, q, file);
        q += 8;
        return v;
      };
      if (entry.size === 0xffffffff) entry.size = next();
      if (entry.compressedSize === 0xffffffff) entry.compressedSize = next();
      if (entry.localHeaderOffset === 0xffffffff) entry.localHeaderOffset = next();
      return;
    }
    p += 4 + len;
  }
}

/** Absolute offset of a stored entry's bytes; compressed or encrypted entries are refused. */
export function storedDataOffset(fd: number, file: string, fileSize: number, entry: ZipEntry): number {
  if (entry.flags & 1) throw new ZipError(file, `entry ${entry.name} is encrypted`);
  if (entry.method !== 0 || entry.compressedSize !== entry.size) {
    throw new ZipError(file, `entry ${entry.name} is compressed (method ${entry.method}); tensors can only be read from stored entries, as torch.save writes them (was the file re-zipped?)`);
  }
  const header = readAt(fd, file, entry.localHeaderOffset, 30);
  if (header.readUInt32LE(0) !== LOCAL) throw new ZipError(file, `entry ${entry.name}: no local header at ${entry.localHeaderOffset} (corrupt archive)`);
  if (header.readUInt16LE(8) !== 0) throw new ZipError(file, `entry ${entry.name} is compressed in its local header (method ${header.readUInt16LE(8)})`);
  const start = entry.localHeaderOffset + 30 + header.readUInt16LE(26) + header.readUInt16LE(28);
  if (start + entry.size > fileSize) throw new ZipError(file, `entry ${entry.name} runs past the end of the file (truncated file)`);
  return start;
}
