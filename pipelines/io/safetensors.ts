// Safetensors: `u64 LE header length` + JSON header + raw little-endian tensor bytes.
// Only the header is read eagerly; tensor bytes are read on demand with positioned reads,
// so files over 2 GB are never loaded whole (ORT reads weights itself through external data).
import { readSync, renameSync, writeFileSync } from 'node:fs';
import { DTYPE_BYTES, TensorFile, TensorFileError, withOpenFile, type SafetensorsDType, type TensorInfo } from './tensor-file.ts';

export { DTYPE_BYTES, toFloat32, type SafetensorsDType, type TensorInfo } from './tensor-file.ts';
export { f16ToF32, f32ToF16 } from './float16.ts';

export class SafetensorsError extends TensorFileError {
  override name = 'SafetensorsError';
}

const MAX_HEADER_BYTES = 100 * 1024 * 1024;

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

/** Write a safetensors file atomically (temp file + rename). */
export function writeSafetensors(path: string, tensors: Record<string, TensorToWrite>, metadata?: Record<string, string>): void {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  const names = Object.keys(tensors).sort();
  for (const name of names) {
    const t = tensors[name];
    const n = t.data.byteLength;
    const expected = t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.dtype];
    if (n !== expected) throw new SafetensorsError(path, `write: ${n} bytes given but ${t.dtype} ${JSON.stringify(t.shape)} needs ${expected}`, name);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + n] };
    offset += n;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const parts = [len, json, ...names.map((k) => Buffer.from(tensors[k].data.buffer, tensors[k].data.byteOffset, tensors[k].data.byteLength))];
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, Buffer.concat(parts));
  renameSync(tmp, path);
}
