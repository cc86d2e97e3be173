// A graph's summary (op histogram, parameters), and float16 graphs running on the CPU provider.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { f16ToF32, f32ToF16, SafetensorsFile, writeSafetensors } from '../pipelines/io/safetensors.ts';
import { Graph, type DType } from '../pipelines/onnx/graph.ts';
import { add, gelu, layerNorm, matmul, multiHeadAttention } from '../pipelines/onnx/ops.ts';
import { Weights } from '../pipelines/onnx/weights.ts';
import { f16Tensor, Session, tensor } from '../pipelines/runtime/session.ts';
import { relL2 } from './fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'studio-graph-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const D = 8;
const TOKENS = 4;

/** Deterministic values in [-scale, scale). */
function values(n: number, seed: number, scale = 0.5): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return (s / 2 ** 32 - 0.5) * 2 * scale;
  });
}

const file = join(dir, 'block.safetensors');
writeSafetensors(file, {
  'ln.weight': { dtype: 'F32', shape: [D], data: values(D, 1, 1) },
  'ln.bias': { dtype: 'F32', shape: [D], data: values(D, 2) },
  'q.weight': { dtype: 'F32', shape: [D, D], data: values(D * D, 3) },
  'k.weight': { dtype: 'F32', shape: [D, D], data: values(D * D, 4) },
  'v.weight': { dtype: 'F32', shape: [D, D], data: values(D * D, 5) },
  'out.weight': { dtype: 'F32', shape: [D, D], data: values(D * D, 6) },
});

/** A small pre-norm attention block, y = gelu(x + Wo·MHA(LN(x))), computed in `dtype`. */
function block(dtype: DType): Graph {
  const g = new Graph(`block-${dtype}`);
  const w = new Weights(g, SafetensorsFile.open(file), dtype);
  const x = g.input('x', dtype, [1, TOKENS, D]);
  const h = layerNorm(x, w.get('ln.weight', [D]), w.get('ln.bias', [D]), 1e-5);
  const a = multiHeadAttention(matmul(h, w.get('q.weight')), matmul(h, w.get('k.weight')), matmul(h, w.get('v.weight')), 2);
  g.output(gelu(add(x, matmul(a, w.get('out.weight')))), 'y');
  return g;
}

test('summary counts ops by type and parameters by initializer', () => {
  const s = block('float32').summary();
  assert.deepEqual(s.ops, {
    LayerNormalization: 1,
    MatMul: 4,
    'com.microsoft.MultiHeadAttention': 1,
    Add: 1,
    Gelu: 1,
    Identity: 1, // the output gets its own name
  });
  assert.equal(s.nodes, 9);
  assert.equal(s.parameters, 2 * D + 4 * D * D);
  assert.equal(s.initializerBytes, 4 * (2 * D + 4 * D * D));
  assert.deepEqual(s.externalFiles, [file]);

  const f16 = block('float16').summary();
  assert.equal(f16.ops.Cast, 6, 'fp16 compute casts each of the 6 fp32 weights (folded by ORT at load)');
  assert.equal(f16.parameters, s.parameters);
});

test('a float16 graph runs on the CPU provider and agrees with float32', async () => {
  const input = values(TOKENS * D, 7, 1);
  const s32 = await Session.create(block('float32'), { providers: ['cpu'] });
  const s16 = await Session.create(block('float16'), { providers: ['cpu'] });
  try {
    const y32 = (await s32.run({ x: tensor(input, [1, TOKENS, D]) })).y;
    const y16 = (await s16.run({ x: f16Tensor(f32ToF16(input), [1, TOKENS, D]) })).y;
    assert.equal(s16.provider, 'cpu');
    assert.equal(y16.type, 'float16');
    assert.deepEqual(y16.dims, [1, TOKENS, D]);
    const err = relL2(f16ToF32(y16.data as Uint16Array), y32.data as Float32Array);
    assert.ok(err < 5e-3, `fp16 vs fp32 relative L2 ${err.toExponential(2)} (fp16 has ~3 significant digits)`);
    assert.ok(err > 0, 'the fp16 graph really computed in fp16');
  } finally {
    await s32.release();
    await s16.release();
  }
});
