// The WebGPU lowering (pipelines/runtime/lowering.ts) rewrites the built UNet graph for the provider's kernels:
// small attentions decomposed with an fp32 softmax, fp16 norms (and, but for the `fast` set, MatMul/Conv) in fp32.
// The rewritten graph must compute the same function: run on the CPU provider it equals the graph as built (fp32).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import { parseUNetConfig } from '../pipelines/models/unet/config.ts';
import { buildUNet, UNET_OUTPUT } from '../pipelines/models/unet/unet.ts';
import { Graph } from '../pipelines/onnx/graph.ts';
import * as op from '../pipelines/onnx/ops.ts';
import { lowerForProvider } from '../pipelines/runtime/lowering.ts';
import { Session, tensor } from '../pipelines/runtime/session.ts';
import { randn } from '../pipelines/random/torch-randn.ts';
import { fixture, relL2, skipWithoutFixtures as skip } from './fixtures.ts';

const SIZE = 16;
const ATTENTION = 'small MultiHeadAttention as MatMul+Softmax+MatMul';
const NORMS = 'fp16 Instance/LayerNormalization in fp32';
const MATMULS = 'fp16 MatMul/Conv in fp32';

function tinyUNet(dtype: 'float32' | 'float16') {
  const cfg = parseUNetConfig(JSON.parse(readFileSync(fixture('sd15-tiny', 'unet', 'config.json'), 'utf8')));
  const weights = SafetensorsFile.open(fixture('sd15-tiny', 'unet', 'diffusion_pytorch_model.safetensors'));
  const build = () => buildUNet(weights, cfg, { batch: 2, height: SIZE, width: SIZE, dtype }).graph;
  const gold = SafetensorsFile.open(fixture('sd15-tiny-golden.safetensors'));
  const feeds = {
    sample: tensor(gold.readFloat32('unet_in_sample'), [2, cfg.inChannels, SIZE, SIZE]),
    timestep: tensor(Float32Array.of(500, 500), [2]),
    encoder_hidden_states: tensor(gold.readFloat32('unet_in_ehs'), [2, 77, cfg.crossAttentionDim[0]]),
  };
  return { build, feeds, golden: gold.readFloat32('unet_out_t500') };
}

async function runOnCpu(graph: Graph, feeds: Parameters<Session['run']>[0]): Promise<Float32Array> {
  const session = await Session.create(graph, { providers: ['cpu'], lowering: false });
  try {
    return (await session.run(feeds))[UNET_OUTPUT].data as Float32Array;
  } finally {
    await session.release();
  }
}

for (const dtype of ['float32', 'float16'] as const) {
  test(`the WebGPU-lowered ${dtype} UNet computes what the UNet as built does (CPU provider)`, { skip }, async (t) => {
    const { build, feeds, golden } = tinyUNet(dtype);
    const plain = build();
    const lowered = build();
    const ops = plain.summary().ops;
    const norms = (ops.InstanceNormalization ?? 0) + (ops.LayerNormalization ?? 0);
    const report = lowerForProvider(lowered, 'webgpu');
    assert.equal(report[ATTENTION], ops['com.microsoft.MultiHeadAttention'], 'every attention of a 16² latent is small');
    assert.equal(report[NORMS], dtype === 'float16' ? norms : undefined, 'fp16 norms only');
    assert.equal(report[MATMULS], dtype === 'float16' ? (ops.MatMul ?? 0) + ops.Conv + report[ATTENTION] * 2 : undefined, 'fp16 MatMul/Conv only, the attentions\' own included');
    assert.equal(lowered.summary().ops['com.microsoft.MultiHeadAttention'], undefined);
    assert.deepEqual(lowerForProvider(lowered, 'webgpu'), {}, 'a lowered graph is left as it is');
    const [a, b] = [await runOnCpu(lowered, feeds), await runOnCpu(plain, feeds)];
    const err = relL2(a, b);
    t.diagnostic(`lowered vs as built ${err.toExponential(2)}; vs diffusers: lowered ${relL2(a, golden).toExponential(2)}, as built ${relL2(b, golden).toExponential(2)}`);
    // fp32: the same function to rounding. fp16: both within the studio's fp16 target of diffusers' fp32 output
    // (the CPU provider runs fp16 attention through other kernels when present outputs are asked for).
    if (dtype === 'float32') assert.ok(err <= 1e-5, `rel-L2 ${err}`);
    else assert.ok(relL2(a, golden) <= 5e-3 && relL2(b, golden) <= 5e-3, `rel-L2 vs diffusers ${relL2(a, golden)}`);
  });
}

test('providers without rewrites keep the graph as built', { skip }, () => {
  const { build } = tinyUNet('float16');
  const g = build();
  const before = g.summary();
  for (const p of ['cpu', 'cuda', 'dml', 'coreml']) assert.deepEqual(lowerForProvider(g, p), {}, p);
  assert.deepEqual(g.summary(), before);
});

test('small attention with an additive bias is decomposed; large attention is left to MultiHeadAttention', async () => {
  const g = new Graph('mha');
  const q = g.input('q', 'float32', [3, 5, 12]);
  const kv = g.input('kv', 'float32', [3, 7, 12]);
  const bias = g.input('bias', 'float32', [1, 2, 5, 7]);
  g.output(op.multiHeadAttention(q, kv, kv, 2, { attentionBias: bias, scale: 0.3 }), 'y');
  const large = g.input('large', 'float32', [1, 2048, 4]);
  g.output(op.multiHeadAttention(large, large, large, 1), 'y2');
  const feeds = {
    q: tensor(randn([3, 5, 12], 1), [3, 5, 12]),
    kv: tensor(randn([3, 7, 12], 2), [3, 7, 12]),
    bias: tensor(randn([1, 2, 5, 7], 3), [1, 2, 5, 7]),
    large: tensor(randn([1, 2048, 4], 4), [1, 2048, 4]),
  };
  const run = async () => {
    const s = await Session.create(g, { providers: ['cpu'], lowering: false });
    const out = await s.run(feeds);
    await s.release();
    return [out.y.data as Float32Array, out.y2.data as Float32Array];
  };
  const before = await run();
  assert.deepEqual(lowerForProvider(g, 'webgpu'), { [ATTENTION]: 1 }, '2048² scores are above the threshold');
  assert.equal(g.summary().ops['com.microsoft.MultiHeadAttention'], 1);
  const after = await run();
  assert.ok(relL2(after[0], before[0]) <= 1e-6, `rel-L2 ${relL2(after[0], before[0])}`);
  assert.deepEqual(after[1], before[1]);
  assert.throws(() => lowerForProvider(g, 'webgpu', 'fastest'), /no lowering set "fastest" for webgpu; sets: default, fast/);
});
