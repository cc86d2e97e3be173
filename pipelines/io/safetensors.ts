// Safetensors: `u64 LE header length` + JSON header + raw little-endian tensor bytes.
// Only the header is read eagerly; tensor bytes are read on demand with positioned reads,
// so files over 2 GB are never loaded whole (ORT reads weights itself through external data).
import { closeSync, openSync, readSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { DTYPE_BYTES, TensorFile, TensorFileError, withOpenFile, type SafetensorsDType, type TensorInfo } from './tensor-file.ts';

export { DTYPE_BYTES, toFloat32, type SafetensorsDType, type TensorInfo } from './tensor-file.ts';
export { f16ToF32, f32ToF16 } from './float16.ts';

export class SafetensorsError extends TensorFileError {
  override name = 'SafetensorsError';
}

/**
 * Header limits, checked on the raw bytes before JSON.parse allocates anything: a 100 MB header cost
 * 45–115 s and up to 5 GiB. Real checkpoints have a few thousand tensors (SDXL ~2,500) and nest three
 * levels (header → entry → shape); training metadata in `__metadata__` can reach a few MiB.
 */
export const MAX_HEADER_BYTES = 32 * 1024 * 1024;
export const MAX_HEADER_ENTRIES = 50_000;
const MAX_HEADER_DEPTH = 3;

/** Top-level entries and nesting depth of a JSON text, counted in one pass without parsing it. */
export function headerShape(json: Uint8Array): { entries: number; depth: number } {
  let depth = 0;
  let maxDepth = 0;
  let entries = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) maxDepth = Math.max(maxDepth, ++depth);
    else if (c === 0x7d || c === 0x5d) depth--;
    else if (c === 0x3a && depth === 1) entries++;
  }
  return { entries, depth: maxDepth };
}

export class SafetensorsFile extends TensorFile {
  readonly metadata: Record<string, string> = {};

  private constructor(path: string, readonly fileSize: number) {
    super(path);
  }

  protected error(message: string, tensor?: string): SafetensorsError {
    return new SafetensorsError(this.path, message, tensor);
  }

  static open(path: string): SafetensorsFile {
    return withOpenFile(path, (file, message) => new SafetensorsError(file, message), (fd, size, abs) => {
      const st = new SafetensorsFile(abs, size);
      st.parseHeader(fd);
      return st;
    });
  }

  private parseHeader(fd: number): void {
    const fail = (msg: string, tensor?: string): never => {
      throw new SafetensorsError(this.path, msg, tensor);
    };
    if (this.fileSize < 8) fail(`file is ${this.fileSize} bytes, too short to be safetensors (truncated or not a safetensors file)`);
    const lenBuf = Buffer.alloc(8);
    readSync(fd, lenBuf, 0, 8, 0);
    const headerLen = lenBuf.readBigUInt64LE(0);
    if (headerLen > BigInt(MAX_HEADER_BYTES)) fail(`header length ${headerLen} is implausible (over ${MAX_HEADER_BYTES} bytes): not a safetensors file`);
    const n = Number(headerLen);
    if (8 + n > this.fileSize) fail(`header claims ${n} bytes but the file has only ${this.fileSize - 8} after the length prefix (truncated file)`);
    const headerBuf = Buffer.alloc(n);
    readSync(fd, headerBuf, 0, n, 8);
    const shape = headerShape(headerBuf);
    if (shape.entries > MAX_HEADER_ENTRIES) fail(`header lists ${shape.entries} entries; the studio reads at most ${MAX_HEADER_ENTRIES} tensors per file (not a model checkpoint, or a corrupt one)`);
    if (shape.depth > MAX_HEADER_DEPTH) fail(`header nests ${shape.depth} levels deep where safetensors has ${MAX_HEADER_DEPTH} (corrupt or not a safetensors file)`);
    let header: unknown;
    try {
      header = JSON.parse(headerBuf.toString('utf8'));
    } catch (e) {
      return fail(`header is not valid JSON (${(e as Error).message}): not a safetensors file or corrupt`);
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
    const dataStart = 8 + n;
    const dataSize = this.fileSize - dataStart;
    const spans: [number, number, string][] = [];
    for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
      if (name === '__metadata__') {
        if (raw && typeof raw === 'object') {
          for (const [k, v] of Object.entries(raw)) if (typeof v === 'string') this.metadata[k] = v;
        }
        continue;
      }
      const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      if (!e || typeof e !== 'object') fail('entry is not an object', name);
      if (typeof e.dtype !== 'string' || !(e.dtype in DTYPE_BYTES)) {
        fail(`unknown dtype ${JSON.stringify(e.dtype)} (supported: ${Object.keys(DTYPE_BYTES).join(', ')})`, name);
      }
      const dtype = e.dtype as SafetensorsDType;
      if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`invalid shape ${JSON.stringify(e.shape)}`, name);
      const shape = e.shape as number[];
      if (!Array.isArray(e.data_offsets) || e.data_offsets.length !== 2 || !e.data_offsets.every((d) => Number.isSafeInteger(d) && d >= 0)) {
        fail(`invalid data_offsets ${JSON.stringify(e.data_offsets)}`, name);
      }
      const [begin, end] = e.data_offsets as [number, number];
      const expected = shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype];
      if (end < begin) fail(`data_offsets [${begin}, ${end}] end before they begin`, name);
      if (end - begin !== expected) fail(`data_offsets span ${end - begin} bytes but ${dtype} ${JSON.stringify(shape)} needs ${expected} (header lies about sizes)`, name);
      if (end > dataSize) fail(`data ends at byte ${end} but the file holds only ${dataSize} data bytes (truncated file or wrong offsets)`, name);
      spans.push([begin, end, name]);
      this.tensors.set(name, { name, dtype, shape, offset: dataStart + begin, byteLength: end - begin, file: this.path });
    }
    spans.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) {
      if (spans[i][0] < spans[i - 1][1]) fail(`data overlaps tensor "${spans[i - 1][2]}" (header offsets are corrupt)`, spans[i][2]);
    }
  }
}

export interface TensorToWrite {
  dtype: SafetensorsDType;
  shape: number[];
  data: ArrayBufferView;
}

/** The header bytes (length prefix + padded JSON) and each tensor's data offset, in the order given. */
function safetensorsHeader(path: string, entries: readonly { name: string; dtype: SafetensorsDType; shape: number[]; bytes?: number }[], metadata?: Record<string, string>): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of entries) {
    const expected = t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.dtype];
    if (t.bytes !== undefined && t.bytes !== expected) throw new SafetensorsError(path, `write: ${t.bytes} bytes given but ${t.dtype} ${JSON.stringify(t.shape)} needs ${expected}`, t.name);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + expected] };
    offset += expected;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json]);
}

const bytesOf = (data: ArrayBufferView) => Buffer.from(data.buffer, data.byteOffset, data.byteLength);

/** Write a safetensors file atomically (temp file + rename). */
export function writeSafetensors(path: string, tensors: Record<string, TensorToWrite>, metadata?: Record<string, string>): void {
  const names = Object.keys(tensors).sort();
  const head = safetensorsHeader(path, names.map((name) => ({ name, ...tensors[name], bytes: tensors[name].data.byteLength })), metadata);
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, Buffer.concat([head, ...names.map((k) => bytesOf(tensors[k].data))]));
  renameSync(tmp, path);
}

/**
 * A safetensors file written one tensor at a time, in the order declared up front (so the header can go
 * first), each in one or more pieces, for files too large to hold in memory at once. `finish()` checks
 * that every declared byte was written.
 */
export class SafetensorsWriter {
  private readonly fd: number;
  private index = 0;
  private written = 0;

  constructor(readonly path: string, private readonly entries: readonly { name: string; dtype: SafetensorsDType; shape: number[] }[], metadata?: Record<string, string>) {
    this.fd = openSync(path, 'w');
    this.put(safetensorsHeader(path, entries, metadata));
  }

  /** Appends `data` to tensor `name`: the one being written, or the next once that one is complete. */
  write(name: string, data: ArrayBufferView): void {
    if (this.written === this.size(this.index) && this.entries[this.index]?.name !== name) {
      this.index++;
      this.written = 0;
    }
    const e = this.entries[this.index];
    if (e?.name !== name) throw new SafetensorsError(this.path, `write: "${name}" written out of order (expected "${e?.name ?? 'nothing more'}")`, name);
    if (this.written + data.byteLength > this.size(this.index)) throw new SafetensorsError(this.path, `write: more than the ${this.size(this.index)} bytes ${e.dtype} ${JSON.stringify(e.shape)} needs`, name);
    this.put(bytesOf(data));
    this.written += data.byteLength;
  }

  finish(): void {
    closeSync(this.fd);
    const complete = this.written === this.size(this.index) ? this.index + 1 : this.index;
    if (complete !== this.entries.length) throw new SafetensorsError(this.path, `write: ${this.entries.length - complete} declared tensors were not written in full`);
  }

  private size(i: number): number {
    const e = this.entries[i];
    return e ? e.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[e.dtype] : 0;
  }

  private put(bytes: Buffer): void {
    for (let done = 0; done < bytes.byteLength; ) done += writeSync(this.fd, bytes, done);
  }
}
