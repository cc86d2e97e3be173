// What a checkpoint file offers once its index is read, whatever its format (safetensors.ts,
// torch-pt.ts): each tensor's dtype, shape and place in the file, and its bytes read on demand with
// positioned reads, so files over 2 GB are never loaded whole.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { resolve } from 'node:path';
import { f16ToF32 } from './float16.ts';

export type SafetensorsDType =
  | 'F64' | 'F32' | 'F16' | 'BF16' | 'F8_E4M3' | 'F8_E5M2'
  | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export const DTYPE_BYTES: Record<SafetensorsDType, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, F8_E4M3: 1, F8_E5M2: 1,
  I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

export interface TensorInfo {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** Absolute byte offset of the tensor's data in the file. */
  offset: number;
  byteLength: number;
  /** Absolute path of the file holding the bytes. */
  file: string;
}

/** A problem with a checkpoint file, naming the file and, where there is one, the tensor. */
export class TensorFileError extends Error {
  constructor(readonly file: string, message: string, readonly tensor?: string) {
    super(`${file}${tensor ? ` (tensor "${tensor}")` : ''}: ${message}`);
    this.name = 'TensorFileError';
  }
}

/**
 * Opens `path` (made absolute) for `read(fd, size, absolutePath)` and closes it after; a file that cannot
 * be opened is `makeError(absolutePath, 'cannot open file: …')`.
 */
export function withOpenFile<T>(path: string, makeError: (file: string, message: string) => Error, read: (fd: number, size: number, abs: string) => T): T {
  const abs = resolve(path);
  let fd: number;
  try {
    fd = openSync(abs, 'r');
  } catch (e) {
    throw makeError(abs, `cannot open file: ${(e as Error).message}`);
  }
  try {
    return read(fd, fstatSync(fd).size, abs);
  } finally {
    closeSync(fd);
  }
}

export abstract class TensorFile {
  readonly tensors = new Map<string, TensorInfo>();

  protected constructor(readonly path: string) {}

  /** The format's own error class, so messages say which reader failed. */
  protected abstract error(message: string, tensor?: string): TensorFileError;

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw this.error('tensor not found in checkpoint', name);
    return t;
  }

  keys(): string[] {
    return [...this.tensors.keys()];
  }

  /** Raw bytes of one tensor (a fresh, aligned Buffer). */
  readBytes(name: string): Buffer {
    const t = this.info(name);
    const buf = Buffer.alloc(t.byteLength);
    const fd = openSync(this.path, 'r');
    try {
      let done = 0;
      while (done < t.byteLength) {
        const n = readSync(fd, buf, done, t.byteLength - done, t.offset + done);
        if (n === 0) throw this.error('unexpected end of file while reading', name);
        done += n;
      }
    } finally {
      closeSync(fd);
    }
    return buf;
  }

  /** One tensor converted to float32 (F32, F16, BF16, F64 and integer types). */
  readFloat32(name: string): Float32Array {
    return toFloat32(this.readBytes(name), this.info(name).dtype, this.path, name);
  }
}

export function toFloat32(buf: Buffer, dtype: SafetensorsDType, file = '<memory>', name?: string): Float32Array {
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  switch (dtype) {
    case 'F32': return new Float32Array(ab);
    case 'F64': return Float32Array.from(new Float64Array(ab));
    case 'F16': return f16ToF32(new Uint16Array(ab));
    case 'BF16': {
      const u = new Uint16Array(ab);
      const out = new Uint32Array(u.length);
      for (let i = 0; i < u.length; i++) out[i] = u[i] << 16;
      return new Float32Array(out.buffer);
    }
    case 'I64': return Float32Array.from(new BigInt64Array(ab), (v) => Number(v));
    case 'I32': return Float32Array.from(new Int32Array(ab));
    case 'I16': return Float32Array.from(new Int16Array(ab));
    case 'I8': return Float32Array.from(new Int8Array(ab));
    case 'U8': case 'BOOL': return Float32Array.from(new Uint8Array(ab));
    default: throw new TensorFileError(file, `cannot convert ${dtype} to float32 in JS; let the graph Cast it`, name);
  }
}
