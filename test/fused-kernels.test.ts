// The CUDA provider's fused kernels in the UNet graph: emitted only when asked, the plain graph untouched
// otherwise, and refused by the CPU provider with ORT's own error. (Their numerics need a CUDA GPU: the CPU
// has no GroupNorm, BiasSplitGelu or BiasAdd kernel, so bench/gpu-matrix.ts checks fused CUDA outputs
// against diffusers on the GPU machine.)
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import { parseUNetConfig } from '../pipelines/models/unet/config.ts';
import { buildUNet, UNET_OUTPUT } from '../pipelines/models/unet/unet.ts';
import { Graph } from '../pipelines/onnx/graph.ts';
import { groupNormNhwc } from '../pipelines/onnx/ops.ts';
import { fusedKernels, modelDtype, type FusedKernels } from '../pipelines/runtime/kernels.ts';
import { Session, tensor } from '../pipelines/runtime/session.ts';
import { randn } from '../pipelines/random/torch-randn.ts';
import { fixture, skipWithoutFixtures as skip } from './fixtures.ts';

const FUSED_OPS = ['com.microsoft.GroupNorm', 'com.microsoft.BiasSplitGelu', 'com.microsoft.BiasAdd'];
const SIZE = 8;

function tinyUNet() {
  const cfg = parseUNetConfig(JSON.parse(readFileSync(fixture('sd15-tiny', 'unet', 'config.json'), 'utf8')));
  const weights = SafetensorsFile.open(fixture('sd15-tiny', 'unet', 'diffusion_pytorch_model.safetensors'));
  const build = (kernels?: FusedKernels) => buildUNet(weights, cfg, { batch: 2, height: SIZE, width: SIZE, kernels }).graph;
  const width = cfg.crossAttentionDim[0];
  const feeds = {
    sample: tensor(randn([2, cfg.inChannels, SIZE, SIZE], 3), [2, cfg.inChannels, SIZE, SIZE]),
    timestep: tensor(Float32Array.of(999, 500), [2]),
    encoder_hidden_states: tensor(randn([2, 77, width], 4), [2, 77, width]),
  };
  return { cfg, build, feeds };
}

test('only the CUDA provider gets fused kernels and fp16 diffusion graphs', () => {
  assert.deepEqual(fusedKernels('cuda'), { groupNormSilu: true, biasSplitGelu: true, biasAdd: true });
  for (const p of ['cpu', 'webgpu', 'dml', 'coreml'] as const) assert.equal(fusedKernels(p), undefined, p);
  assert.deepEqual([modelDtype('cuda'), modelDtype('webgpu'), modelDtype('cpu'), modelDtype(undefined)], ['float16', 'float32', 'float32', 'float32']);
});

test('the UNet builder emits each fused kernel only when asked, and the plain graph is unchanged', { skip }, () => {
  const { cfg, build } = tinyUNet();
  const plain = build().summary().ops;
  assert.deepEqual(build({ groupNormSilu: false, biasSplitGelu: false, biasAdd: false }).summary().ops, plain);
  for (const op of FUSED_OPS) assert.equal(plain[op], undefined, op);
  const fused = build(fusedKernels('cuda')).summary().ops;
  const resnets = cfg.blockOutChannels.length * cfg.layersPerBlock[0] + 2 + cfg.blockOutChannels.length * (cfg.layersPerBlock[0] + 1);
  const blocks = Object.keys(plain).includes('com.microsoft.MultiHeadAttention') ? plain['com.microsoft.MultiHeadAttention'] / 2 : 0;
  // The tiny UNet's transformers are one block deep: one Transformer2D, with its own (SiLU-less) GroupNorm, per block.
  const norms = 2 * resnets + 1 + blocks;
  assert.equal(fused['com.microsoft.GroupNorm'], norms, 'two per resnet, conv_norm_out, one per transformer');
  assert.equal(fused['com.microsoft.BiasSplitGelu'], blocks, 'one per transformer block');
  assert.equal(fused['com.microsoft.BiasAdd'], blocks, 'the feed-forward output and its residual');
  assert.equal(fused.Gelu ?? 0, 0);
  assert.equal(fused.InstanceNormalization ?? 0, (plain.InstanceNormalization ?? 0) - norms);
  // One GroupNorm only (no BiasSplitGelu): the others stay plain.
  const normOnly = build({ groupNormSilu: true, biasSplitGelu: false, biasAdd: false }).summary().ops;
  assert.equal(normOnly['com.microsoft.BiasSplitGelu'], undefined);
  assert.equal(normOnly.Gelu, plain.Gelu);
});

test('GroupNorm gets float32 scale and bias in an fp16 graph, and the CPU refuses the fused graph by name', { skip }, async () => {
  const { build, feeds } = tinyUNet();
  const g = new Graph('gn');
  const x = g.input('x', 'float16', [1, 2, 2, 64]);
  const half = (name: string) => g.constant('float16', [64], new Uint16Array(64).fill(0x3c00), name);
  g.output(groupNormNhwc(x, 32, half('scale'), half('bias'), 1e-5, true), 'y');
  const ops = g.summary().ops;
  assert.deepEqual([ops.Cast, ops['com.microsoft.GroupNorm']], [2, 1], 'fp16 scale and bias reach the kernel as float32');
  await assert.rejects(Session.create(build(fusedKernels('cuda')), { providers: ['cpu'] }), /Could not find an implementation for (GroupNorm|BiasSplitGelu|BiasAdd)/);
  const plain = await Session.create(build(), { providers: ['cpu'] });
  assert.ok(((await plain.run(feeds))[UNET_OUTPUT].data as Float32Array).every(Number.isFinite));
  await plain.release();
});
