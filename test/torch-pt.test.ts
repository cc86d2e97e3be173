// The weights-only .pt reader, on archives written here in torch.save's layout: a zip of stored entries
// `<name>/data.pkl` (pickle protocol 2), `<name>/byteorder`, `<name>/data/<key>`, `<name>/version`.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';
import { TorchPtFile } from '../pipelines/io/torch-pt.ts';
import { SafetensorsFile, f32ToF16 } from '../pipelines/io/safetensors.ts';
import { detectPath } from '../pipelines/checkpoints/detect.ts';
import { openClassConditional } from '../pipelines/recipes/class-conditional/model.ts';
import { Session, ort, tensor } from '../pipelines/runtime/session.ts';
import { fixture, relL2, skipWithoutFixtures } from './fixtures.ts';

const tmp = mkdtempSync(join(tmpdir(), 'studio-torch-pt-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

// ---- a minimal protocol-2 pickler for the values a torch checkpoint holds -------------------------

interface TensorSpec {
  storage: string;
  type: string; // FloatStorage, HalfStorage, …
  numel: number;
  offset: number;
  shape: number[];
  stride: number[];
}
type V =
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

class Pickler {
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

interface ZipInput {
  name: string;
  data: Buffer;
  deflate?: boolean;
}

function writeZip(path: string, entries: ZipInput[], zip64 = false): void {
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
function writePt(path: string, root: V | Buffer, storages: Record<string, Buffer>, o: { zip64?: boolean; byteorder?: string; deflate?: boolean } = {}): void {
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

const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const contiguous = (shape: number[]) => shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
const f32Tensor = (storage: string, shape: number[], offset = 0, numel = shape.reduce((a, b) => a * b, 1) + offset): V => ({
  tensor: { storage, type: 'FloatStorage', numel, offset, shape, stride: contiguous(shape) },
});

// ---- reading -------------------------------------------------------------------------------------

const weight = Float32Array.from({ length: 12 }, (_, i) => i * 0.5 - 2);
const shared = Float32Array.from({ length: 10 }, (_, i) => 100 + i);
const half = Float32Array.of(0.5, -1.25, 3, 65504);
const bf16 = Float32Array.of(1, -2, 0.15625, 3e38);
const longs = BigInt64Array.of(7n, -3n, 1n << 40n);

function mixedStateDict(): { root: V; storages: Record<string, Buffer> } {
  const bf = new Uint16Array(new Uint32Array(bf16.buffer).map((u) => u >>> 16));
  return {
    root: {
      odict: [
        ['w', f32Tensor('0', [3, 4])],
        ['view_a', f32Tensor('1', [4], 3, 10)],
        ['view_b', f32Tensor('1', [2], 8, 10)],
        ['column', { tensor: { storage: '1', type: 'FloatStorage', numel: 10, offset: 0, shape: [3, 1], stride: [1, 7] } }],
        ['h', { tensor: { storage: '2', type: 'HalfStorage', numel: 4, offset: 0, shape: [2, 2], stride: [2, 1] } }],
        ['b', { tensor: { storage: '3', type: 'BFloat16Storage', numel: 4, offset: 0, shape: [4], stride: [1] } }],
        ['n', { tensor: { storage: '4', type: 'LongStorage', numel: 3, offset: 0, shape: [3], stride: [1] } }],
        ['scalar', { tensor: { storage: '1', type: 'FloatStorage', numel: 10, offset: 5, shape: [], stride: [] } }],
      ],
      metadata: true,
    },
    storages: { '0': bytes(weight), '1': bytes(shared), '2': bytes(f32ToF16(half)), '3': bytes(bf), '4': bytes(longs) },
  };
}

for (const zip64 of [false, true]) {
  test(`reads a torch.save state dict${zip64 ? ' (zip64)' : ''}: names, dtypes, shapes, values, and offsets into the archive`, () => {
    const path = join(tmp, `mixed${zip64 ? '64' : ''}.pt`);
    const { root, storages } = mixedStateDict();
    writePt(path, root, storages, { zip64 });
    const pt = TorchPtFile.open(path);
    assert.deepEqual(pt.keys(), ['w', 'view_a', 'view_b', 'column', 'h', 'b', 'n', 'scalar']);
    assert.equal(pt.selected, undefined);
    assert.deepEqual([...pt.readFloat32('w')], [...weight]);
    assert.deepEqual([...pt.readFloat32('view_a')], [103, 104, 105, 106]);
    assert.deepEqual([...pt.readFloat32('view_b')], [108, 109]);
    assert.deepEqual([...pt.readFloat32('column')], [100, 101, 102]);
    assert.deepEqual([...pt.readFloat32('h')], [...half]);
    const b = pt.readFloat32('b');
    assert.deepEqual([...b.subarray(0, 3)], [1, -2, 0.15625]);
    assert.ok(Math.abs(b[3] / 3e38 - 1) < 0.01, `bf16 3e38 read as ${b[3]}`);
    assert.deepEqual([...pt.readFloat32('n')], [7, -3, 2 ** 40]);
    assert.deepEqual([...pt.readFloat32('scalar')], [105]);
    assert.deepEqual(
      ['w', 'h', 'b', 'n', 'scalar'].map((k) => [pt.info(k).dtype, pt.info(k).shape]),
      [['F32', [3, 4]], ['F16', [2, 2]], ['BF16', [4]], ['I64', [3]], ['F32', []]],
    );
    // The offsets address the bytes inside the archive itself (what ORT reads as external data).
    const file = readFileSync(path);
    const at = (k: string) => file.subarray(pt.info(k).offset, pt.info(k).offset + pt.info(k).byteLength);
    assert.deepEqual(at('w'), bytes(weight));
    assert.deepEqual(at('view_a'), bytes(shared.subarray(3, 7)));
    assert.equal(pt.info('w').offset % 64, 0);
  });
}

test('a training checkpoint {model, ema, args: Namespace} gives the ema weights, as the sample scripts load them', () => {
  const path = join(tmp, 'train.pt');
  const ema = Float32Array.of(1, 2, 3);
  const live = Float32Array.of(-1, -2, -3);
  const root: V = {
    dict: [
      ['model', { odict: [['x', f32Tensor('0', [3])]] }],
      ['ema', { odict: [['x', f32Tensor('1', [3])]], metadata: true }],
      ['opt', { dict: [['param_groups', { tuple: [{ dict: [['lr', { float: 1e-4 }], ['betas', { tuple: [{ float: 0.9 }, { float: 0.999 }] }]] }] }]] }],
      ['args', { namespace: [['model', 'DiT-XL/2'], ['global_batch_size', 256], ['ckpt', null]] }],
    ],
  };
  writePt(path, root, { '0': bytes(live), '1': bytes(ema) });
  const pt = TorchPtFile.open(path);
  assert.equal(pt.selected, 'ema');
  assert.deepEqual(pt.topLevelKeys, ['model', 'ema', 'opt', 'args']);
  assert.deepEqual([...pt.readFloat32('x')], [1, 2, 3]);
});

// ---- refusals ------------------------------------------------------------------------------------

test('malicious pickles are refused before anything could run', () => {
  const marker = join(tmp, 'pwned');
  const p = () => new Pickler().byte(0x80, 2);
  const command = `touch ${marker}`;
  const cases: [string, Buffer, RegExp][] = [
    ['GLOBAL os.system + REDUCE', p().global('os', 'system').value({ tuple: [command] }).byte(0x52, 0x2e).done(), /os\.system, which is not part of a weights-only checkpoint.*refused/],
    ['GLOBAL posix.system', p().global('posix', 'system').value({ tuple: [command] }).byte(0x52, 0x2e).done(), /posix\.system.*refused/],
    ['STACK_GLOBAL builtins.eval', p().byte(0x8c, 8, ...Buffer.from('builtins'), 0x8c, 4, ...Buffer.from('eval'), 0x93).value({ tuple: ['1'] }).byte(0x52, 0x2e).done(), /builtins\.eval.*refused/],
    ['REDUCE of an allowed non-callable', p().global('torch', 'FloatStorage').byte(0x29, 0x52, 0x2e).done(), /torch\.FloatStorage is not callable/],
    ['INST opcode', p().byte(0x28, ...Buffer.from('ios\nsystem\n', 'latin1')).value(command).byte(0x2e).done(), /opcode 0x69 at byte 3 .* refused/],
    ['_rebuild_tensor_v2 with junk', p().global('torch._utils', '_rebuild_tensor_v2').value({ tuple: ['x', 1] }).byte(0x52, 0x2e).done(), /_rebuild_tensor_v2 with arguments/],
  ];
  for (const [name, pickle, expected] of cases) {
    const path = join(tmp, `evil-${name.replace(/\W+/g, '_')}.pt`);
    writePt(path, pickle, {});
    assert.throws(() => TorchPtFile.open(path), (e: Error) => expected.test(e.message) && e.message.includes(path), name);
  }
  assert.equal(existsSync(marker), false);
});

test('bad archives are refused with what to do: compressed, non-contiguous, big-endian, missing storage, not a zip', () => {
  const { root, storages } = mixedStateDict();
  const check = (name: string, write: (path: string) => void, expected: RegExp) => {
    const path = join(tmp, `${name}.pt`);
    write(path);
    assert.throws(() => TorchPtFile.open(path), (e: Error) => expected.test(e.message), name);
  };
  check('deflated', (p) => writePt(p, root, storages, { deflate: true }), /entry archive\/data\/0 is compressed .*stored entries/);
  check('transposed', (p) => writePt(p, { odict: [['t', { tensor: { storage: '0', type: 'FloatStorage', numel: 12, offset: 0, shape: [4, 3], stride: [1, 4] } }]] }, { '0': bytes(weight) }), /tensor "t"\): is stored non-contiguous .*\.contiguous\(\)/);
  check('bigendian', (p) => writePt(p, root, storages, { byteorder: 'big' }), /big-endian/);
  check('nostorage', (p) => writePt(p, { odict: [['w', f32Tensor('9', [3])]] }, {}), /tensor "w"\): storage 9 is missing/);
  check('overrun', (p) => writePt(p, { odict: [['w', f32Tensor('0', [20])]] }, { '0': bytes(weight) }), /reaches past the end of its storage/);
  check('legacy', (p) => writeFileSync(p, Buffer.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19])), /not a zip-format PyTorch checkpoint/);
  check('notensors', (p) => writePt(p, { dict: [['epoch', 3]] }, {}), /no tensors found \(top-level keys: epoch\)/);
});

// ---- the reader feeding ORT ----------------------------------------------------------------------

test('DiT from a .pt: detected, and ORT reads the weights in place with the reference output (rel-L2 < 1e-4)', { skip: skipWithoutFixtures }, async () => {
  const src = SafetensorsFile.open(fixture('dit-tiny.safetensors'));
  const entries: [V, V][] = [];
  const data: Record<string, Buffer> = {};
  src.keys().forEach((name, i) => {
    const info = src.info(name);
    entries.push([name, f32Tensor(String(i), info.shape)]);
    data[String(i)] = src.readBytes(name);
  });
  const path = join(tmp, 'dit-tiny.pt');
  writePt(path, { odict: entries, metadata: true }, data);
  copyFileSync(fixture('dit-tiny.json'), join(tmp, 'dit-tiny.json'));
  assert.equal(detectPath(path).family, 'dit');

  const model = openClassConditional(path, 'dit');
  const golden = SafetensorsFile.open(fixture('dit-tiny-golden.safetensors'));
  const shape = golden.info('x').shape;
  const graph = model.buildGraph({ batch: shape[0], height: shape[2], width: shape[3] });
  assert.deepEqual(graph.summary().externalFiles, [path]);
  const session = await Session.create(graph, { providers: ['cpu'] });
  try {
    const y = golden.readFloat32('y');
    const out = await session.run({
      x: tensor(golden.readFloat32('x'), shape),
      t: tensor(golden.readFloat32('t'), [shape[0]]),
      y: new ort.Tensor('int64', BigInt64Array.from(y, (v) => BigInt(v)), [y.length]),
    });
    const err = relL2(out.out.data as Float32Array, golden.readFloat32('out'));
    console.log(`dit-tiny from .pt: rel-L2 = ${err.toExponential(2)}`);
    assert.ok(err < 1e-4, `rel-L2 ${err}`);
  } finally {
    await session.release();
  }
});
