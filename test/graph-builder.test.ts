import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Graph, GraphError } from '../pipelines/onnx/graph.ts';
import * as op from '../pipelines/onnx/ops.ts';
import * as nn from '../pipelines/onnx/nn.ts';
import { Weights, CheckpointShapeError } from '../pipelines/onnx/weights.ts';
import { SafetensorsFile, writeSafetensors, f32ToF16 } from '../pipelines/io/safetensors.ts';
import { Session, tensor } from '../pipelines/runtime/session.ts';

function withTempDir(fn: (dir: string) => Promise<void>) {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'studio-graph-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test('a Linear layer reads its weights as external data from safetensors, fp32 and fp16', withTempDir(async (dir) => {
  const w = Float32Array.from({ length: 12 }, (_, i) => (i - 5) / 7);
  const b = Float32Array.of(0.5, -1, 2);
  const path = join(dir, 'lin.safetensors');
  writeSafetensors(path, {
    'fc.weight': { dtype: 'F32', shape: [3, 4], data: w },
    'fc.bias': { dtype: 'F32', shape: [3], data: b },
    'half.weight': { dtype: 'F16', shape: [3, 4], data: f32ToF16(w) },
  });
  const file = SafetensorsFile.open(path);
  const g = new Graph('linear');
  const x = g.input('x', 'float32', [2, 4]);
  const weights = new Weights(g, file, 'float32');
  g.output(nn.linear(weights.sub('fc'), x), 'y');
  g.output(op.matmul(x, weights.linear('half.weight')), 'z');
  const summary = g.summary();
  assert.equal(summary.parameters, 12 + 3 + 12);
  assert.deepEqual(summary.externalFiles, [file.path]);
  assert.equal(summary.ops.MatMul, 2);

  const xs = Float32Array.of(1, 2, 3, 4, -1, 0, 1, 0.5);
  const session = await Session.create(g);
  const out = await session.run({ x: tensor(xs, [2, 4]) });
  const expected = (bias: Float32Array | null) => {
    const r: number[] = [];
    for (let i = 0; i < 2; i++) for (let o = 0; o < 3; o++) {
      let s = bias ? bias[o] : 0;
      for (let k = 0; k < 4; k++) s += xs[i * 4 + k] * w[o * 4 + k];
      r.push(s);
    }
    return r;
  };
  const y = [...(out.y.data as Float32Array)];
  expected(b).forEach((v, i) => assert.ok(Math.abs(y[i] - v) < 1e-5, `y[${i}] = ${y[i]}, expected ${v}`));
  const z = [...(out.z.data as Float32Array)];
  expected(null).forEach((v, i) => assert.ok(Math.abs(z[i] - v) < 1e-2, `z[${i}] = ${z[i]}, expected ${v}`));
  await session.release();
}));

test('a weight whose shape does not fit the architecture names the file and the tensor', withTempDir(async (dir) => {
  const path = join(dir, 'bad.safetensors');
  writeSafetensors(path, { 'fc.weight': { dtype: 'F32', shape: [4, 3], data: new Float32Array(12) } });
  const g = new Graph();
  const x = g.input('x', 'float32', [1, 4]);
  const w = new Weights(g, SafetensorsFile.open(path), 'float32');
  assert.throws(() => nn.linear(w.sub('fc'), x, 3), (e: unknown) => {
    assert.ok(e instanceof CheckpointShapeError);
    assert.match(e.message, /bad\.safetensors/);
    assert.match(e.message, /fc\.weight/);
    assert.match(e.message, /\[4,3\].*\[3,4\]/);
    return true;
  });
  assert.throws(() => w.get('missing.weight'), /missing\.weight.*missing/);
}));

test('shape inference follows ONNX semantics and rejects impossible shapes', () => {
  const g = new Graph();
  const x = g.input('x', 'float32', [2, 3, 8, 8]);
  assert.deepEqual(op.reshape(x, [0, 3, -1]).shape, [2, 3, 64]);
  assert.deepEqual(op.transpose(op.reshape(x, [2, 3, 64]), [0, 2, 1]).shape, [2, 64, 3]);
  assert.deepEqual(op.matmul(g.input('a', 'float32', [5, 2, 7]), g.input('b', 'float32', [7, 4])).shape, [5, 2, 4]);
  assert.deepEqual(op.slice(x, [2, 3], [1, 0], [7, 8], [2, 3]).shape, [2, 3, 3, 3]);
  assert.deepEqual(op.split(x, 1, [1, 2]).map((t) => t.shape), [[2, 1, 8, 8], [2, 2, 8, 8]]);
  assert.deepEqual(op.einsum('bhnd,bhne->bhde', g.input('k', 'float32', [1, 2, 9, 4]), g.input('v', 'float32', [1, 2, 9, 6])).shape, [1, 2, 4, 6]);
  assert.deepEqual(op.unsqueeze(g.input('t', 'float32', [4]), [0, -1]).shape, [1, 4, 1]);
  assert.throws(() => op.reshape(x, [5, -1]), GraphError);
  assert.throws(() => op.add(x, g.input('y', 'float32', [4])), /do not broadcast/);
  assert.throws(() => op.matmul(x, g.input('m', 'float32', [7, 2])), /inner dimensions/);
  assert.throws(() => op.groupNorm(x, 2, undefined, undefined, 1e-5), /not divisible/);
});

test('a graph with symbolic batch runs for several batch sizes', async () => {
  const g = new Graph('sym');
  const x = g.input('x', 'float32', ['batch', 4]);
  g.output(op.softmax(op.mul(x, 2)), 'p');
  const s = await Session.create(g);
  for (const n of [1, 3]) {
    const out = await s.run({ x: tensor(new Float32Array(n * 4), [n, 4]) });
    assert.deepEqual(out.p.dims, [n, 4]);
    for (const v of out.p.data as Float32Array) assert.ok(Math.abs(v - 0.25) < 1e-7);
  }
  await s.release();
});

test('a graph without outputs is refused with its name', () => {
  assert.throws(() => new Graph('empty').serialize(), /graph "empty" has no outputs/);
});

test('replaceNodes swaps a node for the values a rewrite returns, under the old names, and checks their types', async () => {
  const g = new Graph('rewrite');
  const x = g.input('x', 'float32', [2, 3]);
  const y = op.relu(op.add(op.mul(x, 2), 1));
  g.output(op.neg(y), 'out');
  // Mul → Add with itself (2x = x + x); Relu → its input passed through (an Identity under Relu's output name).
  assert.equal(g.replaceNodes((n) => n.op === 'Mul', (n) => [op.add(n.inputs[0]!, n.inputs[0]!)]), 1);
  assert.equal(g.replaceNodes((n) => n.op === 'Relu', (n) => [n.inputs[0]!]), 1);
  assert.deepEqual(g.summary().ops, { Add: 2, Identity: 2, Neg: 1 });
  const s = await Session.create(g, { lowering: false });
  const out = (await s.run({ x: tensor(Float32Array.of(-1, 0, 1, 2, -3, 4), [2, 3]) })).out.data as Float32Array;
  await s.release();
  assert.deepEqual([...out], [1, -1, -3, -5, 5, -9]);
  const before = g.summary();
  assert.throws(() => g.replaceNodes((n) => n.op === 'Neg', (n) => [op.cast(n.inputs[0]!, 'float16')]), /rewrite of Neg.*replaces/);
  assert.deepEqual(g.summary().ops, before.ops, 'a failed rewrite leaves the graph as it was');
});
