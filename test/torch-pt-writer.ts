// Writers for torch.save-style files, for tests and fuzzers: a minimal protocol-2 pickler for the values a
// torch checkpoint holds, and a zip writer (stored entries, data aligned to 64 bytes as torch does).
import { writeFileSync } from 'node:fs';
import { crc32, deflateRawSync } from 'node:zlib';

// ---- a minimal protocol-2 pickler for the values a torch checkpoint holds -------------------------

export interface TensorSpec {
  storage: string;
  type: string; // FloatStorage, HalfStorage, …
  numel: number;
  offset: number;
  shape: number[];
  stride: number[];
}
export type V =
  | string
  | number
  | boolean
  | null
  | { float: number }
  | { tuple: V[] }
  | { dict: [V, V][] }
  | { odict: [V, V][]; metadata?: boolean }
  | { tensor: TensorSpec }
  | { namespace: [string, V][] }
  | { raw: number[] };

export class Pickler {
  private readonly out: number[] = [];
  private memo = 0;

  byte(...b: number[]): this {
    this.out.push(...b);
    return this;
  }
  u32(n: number): this {
    return this.byte(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff);
  }
  global(module: string, name: string): this {
    return this.byte(0x63, ...Buffer.from(`${module}\n${name}\n`, 'latin1'));
  }
  put(): number {
    const i = this.memo++;
    this.byte(0x71, i);
    return i;
  }
  value(v: V): this {
    if (v === null) return this.byte(0x4e);
    if (v === true) return this.byte(0x88);
    if (v === false) return this.byte(0x89);
    if (typeof v === 'string') {
      const b = Buffer.from(v, 'utf8');
      return this.byte(0x58).u32(b.length).byte(...b);
    }
    if (typeof v === 'number') {
      if (v >= 0 && v < 256) return this.byte(0x4b, v);
      if (v >= 0 && v < 65536) return this.byte(0x4d, v & 0xff, v >> 8);
      return this.byte(0x4a).u32(v);
    }
    if ('raw' in v) return this.byte(...v.raw);
    if ('float' in v) {
      const b = Buffer.alloc(8);
      b.writeDoubleBE(v.float);
      return this.byte(0x47, ...b);
    }
    if ('tuple' in v) {
      const n = v.tuple.length;
      if (n === 0) return this.byte(0x29);
      if (n <= 3) {
        v.tuple.forEach((x) => this.value(x));
        return this.byte(0x84 + n);
      }
      this.byte(0x28);
      v.tuple.forEach((x) => this.value(x));
      return this.byte(0x74);
    }
    if ('dict' in v) {
      this.byte(0x7d);
      this.put();
      return this.items(v.dict);
    }
    if ('odict' in v) {
      this.global('collections', 'OrderedDict').byte(0x29, 0x52);
      this.put();
      this.items(v.odict);
      if (v.metadata) this.byte(0x7d).value('_metadata').global('collections', 'OrderedDict').byte(0x29, 0x52).value('').byte(0x7d).value('version').value(1).byte(0x73, 0x73, 0x73, 0x62);
      return this;
    }
    if ('namespace' in v) {
      this.global('argparse', 'Namespace').byte(0x29, 0x81, 0x7d);
      return this.items(v.namespace).byte(0x62);
    }
    const t = v.tensor;
    this.global('torch._utils', '_rebuild_tensor_v2');
    this.byte(0x28, 0x28).value('storage').global('torch', t.type).value(t.storage).value('cpu').value(t.numel).byte(0x74, 0x51);
    this.value(t.offset).value({ tuple: t.shape }).value({ tuple: t.stride }).value(false);
    return this.global('collections', 'OrderedDict').byte(0x29, 0x52, 0x74, 0x52);
  }
  private items(entries: [V, V][]): this {
    if (entries.length === 0) return this;
    this.byte(0x28);
    for (const [k, x] of entries) this.value(k).value(x);
    return this.byte(0x75);
  }
  done(): Buffer {
    return Buffer.from(this.out);
  }
  pickle(root: V): Buffer {
    return this.byte(0x80, 2).value(root).byte(0x2e).done();
  }
}

// ---- a zip writer (stored entries, data aligned to 64 bytes as torch does; optional zip64) -----------

export interface ZipInput {
  name: string;
  data: Buffer;
  deflate?: boolean;
}

export function writeZip(path: string, entries: ZipInput[], zip64 = false): void {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const body = e.deflate ? deflateRawSync(e.data) : e.data;
    const pad = (64 - ((offset + 30 + name.length + 4) % 64)) % 64;
    const extra = Buffer.alloc(4 + pad);
    extra.writeUInt16LE(0x4246, 0); // torch's "FB" padding field
    extra.writeUInt16LE(pad, 2);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(zip64 ? 45 : 20, 4);
    local.writeUInt16LE(e.deflate ? 8 : 0, 8);
    local.writeUInt32LE(crc32(e.data), 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(e.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(extra.length, 28);
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(zip64 ? 45 : 20, 4);
    c.writeUInt16LE(zip64 ? 45 : 20, 6);
    c.writeUInt16LE(e.deflate ? 8 : 0, 10);
    c.writeUInt32LE(crc32(e.data), 16);
    let z64 = Buffer.alloc(0);
    if (zip64) {
      c.writeUInt32LE(0xffffffff, 20);
      c.writeUInt32LE(0xffffffff, 24);
      c.writeUInt32LE(0xffffffff, 42);
      z64 = Buffer.alloc(28);
      z64.writeUInt16LE(1, 0);
      z64.writeUInt16LE(24, 2);
      z64.writeBigUInt64LE(BigInt(e.data.length), 4);
      z64.writeBigUInt64LE(BigInt(body.length), 12);
      z64.writeBigUInt64LE(BigInt(offset), 20);
    } else {
      c.writeUInt32LE(body.length, 20);
      c.writeUInt32LE(e.data.length, 24);
      c.writeUInt32LE(offset, 42);
    }
    c.writeUInt16LE(name.length, 28);
    c.writeUInt16LE(z64.length, 30);
    central.push(c, name, z64);
    parts.push(local, name, extra, body);
    offset += local.length + name.length + extra.length + body.length;
  }
  const dir = Buffer.concat(central);
  const end: Buffer[] = [];
  if (zip64) {
    const rec = Buffer.alloc(56);
    rec.writeUInt32LE(0x06064b50, 0);
    rec.writeBigUInt64LE(44n, 4);
    rec.writeBigUInt64LE(BigInt(entries.length), 24);
    rec.writeBigUInt64LE(BigInt(entries.length), 32);
    rec.writeBigUInt64LE(BigInt(dir.length), 40);
    rec.writeBigUInt64LE(BigInt(offset), 48);
    const loc = Buffer.alloc(20);
    loc.writeUInt32LE(0x07064b50, 0);
    loc.writeBigUInt64LE(BigInt(offset + dir.length), 8);
    loc.writeUInt32LE(1, 16);
    end.push(rec, loc);
  }
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(zip64 ? 0xffff : entries.length, 8);
  eocd.writeUInt16LE(zip64 ? 0xffff : entries.length, 10);
  eocd.writeUInt32LE(zip64 ? 0xffffffff : dir.length, 12);
  eocd.writeUInt32LE(zip64 ? 0xffffffff : offset, 16);
  writeFileSync(path, Buffer.concat([...parts, dir, ...end, eocd]));
}

/** A torch.save-style archive of `root` with the given storages. */
export function writePt(path: string, root: V | Buffer, storages: Record<string, Buffer>, o: { zip64?: boolean; byteorder?: string; deflate?: boolean } = {}): void {
  const prefix = 'archive/';
  const pickle = Buffer.isBuffer(root) ? root : new Pickler().pickle(root);
  writeZip(
    path,
    [
      { name: `${prefix}data.pkl`, data: pickle },
      { name: `${prefix}byteorder`, data: Buffer.from(o.byteorder ?? 'little') },
      ...Object.entries(storages).map(([k, data]) => ({ name: `${prefix}data/${k}`, data, deflate: o.deflate })),
      { name: `${prefix}version`, data: Buffer.from('3\n') },
    ],
    o.zip64,
  );
}

export const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
export const contiguous = (shape: number[]) => shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
export const f32Tensor = (storage: string, shape: number[], offset = 0, numel = shape.reduce((a, b) => a * b, 1) + offset): V => ({
  tensor: { storage, type: 'FloatStorage', numel, offset, shape, stride: contiguous(shape) },
});

