// The weights-only .pt reader, on archives written here in torch.save's layout: a zip of stored entries
// `<name>/data.pkl` (pickle protocol 2), `<name>/byteorder`, `<name>/data/<key>`, `<name>/version`.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateRawSync } from 'node:zlib';
import { TorchPtFile } from '../pipelines/io/torch-pt.ts';
import { Pickler, bytes, f32Tensor, writePt, writeZip, type V } from './torch-pt-writer.ts';
import { SafetensorsFile, f32ToF16 } from '../pipelines/io/safetensors.ts';
import { detectPath } from '../pipelines/checkpoints/detect.ts';
import { openClassConditional } from '../pipelines/recipes/class-conditional/model.ts';
import { Session, ort, tensor } from '../pipelines/runtime/session.ts';
import { fixture, relL2, skipWithoutFixtures } from './fixtures.ts';

const tmp = mkdtempSync(join(tmpdir(), 'studio-torch-pt-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

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
