// Execution-provider choice: real probes on this machine, and the choice and its message.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { Graph } from '../pipelines/onnx/graph.ts';
import { add, mul } from '../pipelines/onnx/ops.ts';
import { autoLine, chooseProvider, cudaRequirement, detectProviders, parseProvider, providerOrCpu, PROVIDER_ORDER, type ProviderReport } from '../pipelines/runtime/providers.ts';
import { GenerateRequestSchema } from '../pipelines/jobs/api.ts';
import { ort, Session, tensor } from '../pipelines/runtime/session.ts';
import { onnxruntimeLibraryPath } from '../pipelines/runtime/native/ort-c-api.ts';

test('detectProviders probes every provider, best first, and the CPU always works in fp32', async () => {
  const reports = await detectProviders();
  assert.deepEqual(reports.map((r) => r.provider), ['cuda', 'dml', 'coreml', 'webgpu', 'cpu']);
  const listed = new Set(ort.listSupportedBackends().map((b) => b.name));
  for (const r of reports) {
    assert.equal(r.listed, listed.has(r.provider), r.provider);
    if (!r.listed) assert.match(r.reason ?? '', /not part of onnxruntime-node/);
    if (!r.usable) assert.ok(r.reason && r.reason.length > 5, `${r.provider} is unusable and says why`);
    if (r.provider !== 'cpu') assert.equal(r.computeDtype, r.usable && r.fp16 ? 'float16' : 'float32', r.provider);
  }
  const cpu = reports.find((r) => r.provider === 'cpu')!;
  assert.deepEqual({ usable: cpu.usable, fp16: cpu.fp16, computeDtype: cpu.computeDtype }, { usable: true, fp16: true, computeDtype: 'float32' });
  assert.equal(await detectProviders(), reports, 'probed once per process');
});

test('the chosen provider really runs a graph, and its message names it', async () => {
  const choice = chooseProvider(await detectProviders());
  assert.match(choice.message, new RegExp(`^using ${choice.provider} \\(${choice.computeDtype}`));
  const g = new Graph('choice');
  const x = g.input('x', 'float32', [3]);
  g.output(add(mul(x, 3), 1), 'y');
  const s = await Session.create(g, { providers: choice.providers });
  try {
    assert.equal(s.provider, choice.provider);
    assert.deepEqual(Array.from((await s.run({ x: tensor(Float32Array.of(1, 2, -1), [3]) })).y.data as Float32Array), [4, 7, -2]);
  } finally {
    await s.release();
  }
});

test('a session falls back past a provider that refuses, and says which one it uses and why', async (t) => {
  const refusing = (await detectProviders()).find((r) => r.listed && !r.usable);
  if (!refusing) return t.skip('every provider compiled into onnxruntime-node works on this machine');
  const g = new Graph('fallback');
  g.output(add(g.input('x', 'float32', [2]), 1), 'y');
  const s = await Session.create(g, { providers: [refusing.provider, 'cpu'], forbidCpuFallback: true });
  try {
    assert.equal(s.provider, 'cpu');
    assert.equal(s.fallbacks[0].provider, refusing.provider);
    assert.match(s.describe(), new RegExp(`^graph "fallback" runs on cpu; ${refusing.provider} refused it: .+`));
  } finally {
    await s.release();
  }
});

const report = (provider: ProviderReport['provider'], usable: boolean, fp16: boolean, reason?: string): ProviderReport => ({
  provider,
  listed: reason === undefined || !reason.startsWith('not part'),
  usable,
  fp16,
  computeDtype: usable && fp16 && provider !== 'cpu' ? 'float16' : 'float32',
  reason,
});

const machine: ProviderReport[] = [
  report('cuda', false, false, 'Failed to load shared library'),
  report('dml', false, false, 'not part of onnxruntime-node on linux/x64'),
  report('coreml', false, false, 'not part of onnxruntime-node on linux/x64'),
  report('webgpu', true, true),
  report('cpu', true, true),
];

test('chooseProvider: best usable first, with each better provider and why it was passed over', () => {
  const c = chooseProvider(machine);
  assert.equal(c.provider, 'webgpu');
  assert.equal(c.computeDtype, 'float16');
  assert.deepEqual(c.providers, ['webgpu', 'cpu']);
  assert.deepEqual(c.refused.map((r) => r.provider), ['cuda', 'dml', 'coreml']);
  assert.equal(c.message, 'using webgpu (float16); cuda: Failed to load shared library; dml: not part of onnxruntime-node on linux/x64; coreml: not part of onnxruntime-node on linux/x64');
});

test('chooseProvider: an override is honoured when usable, refused with its reason when not', () => {
  const cpu = chooseProvider(machine, 'cpu');
  assert.deepEqual([cpu.provider, cpu.computeDtype, cpu.providers], ['cpu', 'float32', ['cpu', 'webgpu']]);
  assert.equal(cpu.message, 'using requested provider cpu (float32)');

  const cuda = chooseProvider(machine, 'cuda');
  assert.equal(cuda.provider, 'webgpu');
  assert.match(cuda.message, /^using webgpu \(float16\); cuda: requested, but Failed to load shared library; dml: /);

  const noF16 = chooseProvider([report('webgpu', true, false, 'float16 refused, computing in float32: no shader-f16'), report('cpu', true, true)]);
  assert.equal(noF16.computeDtype, 'float32');
  assert.match(noF16.message, /^using webgpu \(float32; float16 refused, computing in float32: no shader-f16\)$/);

  assert.throws(() => chooseProvider([report('cpu', false, false, 'broken install')]), /no execution provider works on this machine: cpu: broken install/);
});

test('parseProvider reads an override and rejects unknown names', () => {
  assert.equal(parseProvider('WebGPU'), 'webgpu');
  assert.equal(parseProvider('auto'), undefined);
  assert.equal(parseProvider(undefined), undefined);
  assert.deepEqual(PROVIDER_ORDER, ['cuda', 'dml', 'coreml', 'webgpu', 'cpu']);
  assert.throws(() => parseProvider('tpu', '--provider'), /--provider="tpu" is not an execution provider; use one of cuda, dml, coreml, webgpu, cpu or auto/);
});

test('--ep auto: one line naming the provider taken and why each faster one was passed over', () => {
  assert.equal(autoLine(chooseProvider(machine)),
    '--ep auto: webgpu (float16), the fastest provider that works here (order cuda > dml > coreml > webgpu > cpu); cuda passed over: Failed to load shared library; dml passed over: not part of onnxruntime-node on linux/x64; coreml passed over: not part of onnxruntime-node on linux/x64');
  assert.equal(autoLine(chooseProvider([report('cuda', true, true), report('cpu', true, true)])), '--ep auto: cuda (float16), the fastest provider that works here (order cuda > dml > coreml > webgpu > cpu)');
});

test('--ep auto on this machine: the probes decide, and a missing CUDA names the CUDA and cuDNN it needs', async () => {
  const reports = await detectProviders();
  const { provider, note } = await providerOrCpu('auto');
  assert.equal(provider, chooseProvider(reports).provider);
  assert.match(note ?? '', new RegExp(`^--ep auto: ${provider} \\((float16|float32)\\), the fastest provider that works here`));
  const cuda = reports.find((r) => r.provider === 'cuda')!;
  const needs = /its libraries could not be loaded: onnxruntime-node 1\.\d+\.\d+'s CUDA provider needs CUDA 12\.x \(libcudart\.so\.12.*cuDNN 9 \(libcudnn\.so\.9\) on the library path, and libonnxruntime_providers_cuda\.so beside its libonnxruntime \(ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node fetches it\)/;
  if (!existsSync(join(dirname(onnxruntimeLibraryPath()), 'libonnxruntime_providers_cuda.so'))) {
    // This machine's onnxruntime-node has no CUDA provider (installed with ONNXRUNTIME_NODE_INSTALL=skip).
    assert.equal(cuda.usable, false);
    assert.match(cuda.reason ?? '', needs);
    assert.match(note!, new RegExp(`cuda passed over: ${needs.source}`));
    const asked = await providerOrCpu('cuda');
    assert.equal(asked.provider, 'cpu');
    assert.match(asked.note ?? '', new RegExp(`^--ep cuda is not available here \\(${needs.source}\\); running on the CPU instead$`));
  }
  assert.equal(GenerateRequestSchema.parse({ prompt: 'x', ep: 'auto' }).ep, 'auto');
});

test('cudaRequirement: CUDA 12 + cuDNN 9 since onnxruntime-node 1.19, CUDA 11.8 + cuDNN 8 before', () => {
  assert.match(cudaRequirement('1.30.0'), /^CUDA 12\.x .* and cuDNN 9 /);
  assert.match(cudaRequirement('1.19.2'), /^CUDA 12\.x/);
  assert.match(cudaRequirement('1.18.1'), /^CUDA 11\.8 .* and cuDNN 8 /);
});
