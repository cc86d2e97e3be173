// Broken checkpoints must fail with an error that names the file and the tensor and says what is wrong.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SafetensorsError, SafetensorsFile, writeSafetensors, type TensorToWrite } from '../pipelines/io/safetensors.ts';
import { CheckpointShapeError } from '../pipelines/onnx/weights.ts';
import { ditTensorShapes, parseDiTConfig, type DiTConfig } from '../pipelines/models/dit/config.ts';
import { buildDiTGraph } from '../pipelines/models/dit/model.ts';
import { buildDiCoGraph } from '../pipelines/models/dico/model.ts';
import { parseDiCoConfig } from '../pipelines/models/dico/config.ts';

const dir = mkdtempSync(join(tmpdir(), 'studio-ckpt-errors-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const TINY: DiTConfig = parseDiTConfig({
  input_size: 8, patch_size: 2, in_channels: 4, hidden_size: 32, depth: 2, num_heads: 2,
  mlp_ratio: 2, class_dropout_prob: 0.1, num_classes: 5, learn_sigma: true,
});
const GRAPH = { batch: 1, height: 8, width: 8 };

function f32(shape: number[]): TensorToWrite {
  const n = shape.reduce((a, b) => a * b, 1);
  return { dtype: 'F32', shape, data: Float32Array.from({ length: n }, (_, i) => Math.sin(i)) };
}

/** A complete DiT checkpoint for TINY, with `edit` applied to the tensor list first. */
function writeDiT(name: string, edit: (t: Record<string, TensorToWrite>) => void = () => {}): string {
  const tensors: Record<string, TensorToWrite> = {};
  for (const [key, shape] of Object.entries(ditTensorShapes(TINY))) tensors[key] = f32(shape);
  edit(tensors);
  const path = join(dir, name);
  writeSafetensors(path, tensors);
  return path;
}

/** A safetensors file with a hand-written header (which may lie) and `dataBytes` bytes of data. */
function writeRaw(name: string, header: Record<string, unknown>, dataBytes: number): string {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const path = join(dir, name);
  writeFileSync(path, Buffer.concat([len, json, Buffer.alloc(dataBytes)]));
  return path;
}

/** Asserts `fn` throws an error of `type` whose message names the file, the tensor and matches `what`. */
function assertNames(fn: () => unknown, type: new (...a: never[]) => Error, file: string, tensor: string | undefined, what: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof type, `expected ${type.name}, got ${String(e)}`);
    assert.ok(e.message.includes(file), `message does not name the file: ${e.message}`);
    if (tensor) assert.ok(e.message.includes(`"${tensor}"`), `message does not name tensor ${tensor}: ${e.message}`);
    assert.match(e.message, what);
    return true;
  });
}

test('a well-formed tiny DiT checkpoint builds (the baseline the broken ones differ from)', () => {
  const path = writeDiT('good.safetensors');
  assert.doesNotThrow(() => buildDiTGraph(SafetensorsFile.open(path), TINY, GRAPH));
});

test('truncated file: the tensor whose data runs past the end is named', () => {
  const good = readFileSync(writeDiT('to-truncate.safetensors'));
  const path = join(dir, 'truncated.safetensors');
  writeFileSync(path, good.subarray(0, good.length - 100));
  const st = readFileSync(path);
  assert.equal(st.length, good.length - 100);
  // writeSafetensors lays tensors out in name order, so the last one is the one cut short.
  const last = Object.keys(ditTensorShapes(TINY)).sort().at(-1)!;
  assertNames(() => SafetensorsFile.open(path), SafetensorsError, path, last, /truncated/);
});

test('file cut inside its header, and a file too short to be safetensors', () => {
  const good = readFileSync(writeDiT('to-cut.safetensors'));
  const cut = join(dir, 'cut-header.safetensors');
  writeFileSync(cut, good.subarray(0, 40));
  assertNames(() => SafetensorsFile.open(cut), SafetensorsError, cut, undefined, /header claims \d+ bytes .*truncated/);
  const tiny = join(dir, 'tiny.safetensors');
  writeFileSync(tiny, Buffer.from([1, 2, 3]));
  assertNames(() => SafetensorsFile.open(tiny), SafetensorsError, tiny, undefined, /too short/);
});

test('header lying about sizes: shape and data_offsets disagree', () => {
  const path = writeRaw('lying-size.safetensors', {
    ok: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] },
    liar: { dtype: 'F32', shape: [4, 4], data_offsets: [16, 32] },
  }, 32);
  assertNames(() => SafetensorsFile.open(path), SafetensorsError, path, 'liar', /span 16 bytes but F32 \[4,4\] needs 64/);
});

test('header lying about offsets: past the end of the file, overlapping, reversed', () => {
  const past = writeRaw('offset-past-end.safetensors', { far: { dtype: 'F32', shape: [4], data_offsets: [1000, 1016] } }, 16);
  assertNames(() => SafetensorsFile.open(past), SafetensorsError, past, 'far', /data ends at byte 1016 but the file holds only 16/);
  const overlap = writeRaw('offset-overlap.safetensors', {
    a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] },
    b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] },
  }, 24);
  assertNames(() => SafetensorsFile.open(overlap), SafetensorsError, overlap, 'b', /overlaps tensor "a"/);
  const reversed = writeRaw('offset-reversed.safetensors', { r: { dtype: 'F32', shape: [0], data_offsets: [16, 0] } }, 16);
  assertNames(() => SafetensorsFile.open(reversed), SafetensorsError, reversed, 'r', /end before they begin/);
});

test('unknown dtype is named with the supported list', () => {
  const path = writeRaw('bad-dtype.safetensors', { q: { dtype: 'Q4_K', shape: [4], data_offsets: [0, 16] } }, 16);
  assertNames(() => SafetensorsFile.open(path), SafetensorsError, path, 'q', /unknown dtype "Q4_K" \(supported: .*F16.*BF16/);
});

test('DiT checkpoint with one tensor reshaped: the tensor and both shapes are named', () => {
  const key = 'blocks.1.attn.qkv.weight';
  const path = writeDiT('reshaped.safetensors', (t) => {
    t[key] = { ...t[key], shape: [...t[key].shape].reverse() };
  });
  assertNames(() => buildDiTGraph(SafetensorsFile.open(path), TINY, GRAPH), CheckpointShapeError, path, key, /has shape \[32, 96\] but DiT .* expects \[96, 32\]/);
});

test('DiT checkpoint with a tensor missing, and a config that does not fit the file', () => {
  const key = 'final_layer.linear.bias';
  const path = writeDiT('missing.safetensors', (t) => delete t[key]);
  assertNames(() => buildDiTGraph(SafetensorsFile.open(path), TINY, GRAPH), CheckpointShapeError, path, key, /is missing/);
  const good = writeDiT('good-2.safetensors');
  const wider = { ...TINY, hidden_size: 64 };
  assertNames(() => buildDiTGraph(SafetensorsFile.open(good), wider, GRAPH), CheckpointShapeError, good, 'x_embedder.proj.weight', /expects \[64, 4, 2, 2\].*and \d+ more/);
});

test('a DiT checkpoint given to the DiCo builder is refused by name', () => {
  const path = writeDiT('dit-as-dico.safetensors');
  const dico = parseDiCoConfig({ in_channels: 4, hidden_size: 32, depth: [1, 1, 1, 1, 1], mlp_ratio: 2, num_classes: 5, learn_sigma: true, class_dropout_prob: 0.1 });
  assertNames(() => buildDiCoGraph(SafetensorsFile.open(path), dico, GRAPH), CheckpointShapeError, path, 'x_embedder.proj.weight', /DiCo/);
});

test('invalid configs name the offending field', () => {
  assert.throws(() => parseDiTConfig({ ...TINY, num_heads: 3 }, 'my.json'), /my\.json: invalid DiT config \(num_heads: hidden_size must be divisible by num_heads\)/);
  assert.throws(() => parseDiCoConfig({ in_channels: 4, hidden_size: 32, depth: [1, 1], mlp_ratio: 2, num_classes: 5, learn_sigma: true, class_dropout_prob: 0.1 }), /depth/);
});
