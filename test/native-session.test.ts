// The native ORT session (pipelines/runtime/native: ORT's C API through koffi, for the CUDA provider's
// options that onnxruntime-node cannot pass) against onnxruntime-node's own session: the same library,
// the same graph, the same outputs, here on the CPU provider through the same code path the GPU uses.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import { parseUNetConfig } from '../pipelines/models/unet/config.ts';
import { buildUNet, UNET_OUTPUT } from '../pipelines/models/unet/unet.ts';
import { Graph } from '../pipelines/onnx/graph.ts';
import { add, mul } from '../pipelines/onnx/ops.ts';
import { Session, cpuSessionFromEnvironment, cudaTuningFromEnvironment, serializeGraph, tensor, ort } from '../pipelines/runtime/session.ts';
import { NativeSession, cudaOptionsAsOrtReads, withCudaGraphFallback } from '../pipelines/runtime/native/native-session.ts';
import { capturesCudaGraph, cudaProviderOptions, parseCudaTuning, STUDIO_CUDA_TUNING } from '../pipelines/runtime/native/cuda-options.ts';
import { unetSessionOptions } from '../pipelines/models/unet/runner.ts';
import { WHOLE } from '../pipelines/models/unet/memory.ts';
import { nativeProviders, ortCApi } from '../pipelines/runtime/native/ort-c-api.ts';
import { randn } from '../pipelines/random/torch-randn.ts';
import { relL2 } from './fixtures.ts';
import { fixture, skipWithoutFixtures as skip } from './fixtures.ts';

test('the C API is the one onnxruntime-node loaded: same version, CPU provider listed', () => {
  const api = ortCApi();
  assert.equal(api.version, ort.env.versions.node ?? ort.env.versions.common);
  assert.ok(nativeProviders().includes('CPUExecutionProvider'));
});

test('a tiny SD UNet gives the same output through the native session as through onnxruntime-node (CPU)', { skip }, async () => {
  const cfg = parseUNetConfig(JSON.parse(readFileSync(fixture('sd15-tiny', 'unet', 'config.json'), 'utf8')));
  const weights = SafetensorsFile.open(fixture('sd15-tiny', 'unet', 'diffusion_pytorch_model.safetensors'));
  const graph = buildUNet(weights, cfg, { batch: 2, height: 8, width: 8 }).graph;
  const width = cfg.crossAttentionDim[0];
  const feeds = {
    sample: tensor(randn([2, cfg.inChannels, 8, 8], 3), [2, cfg.inChannels, 8, 8]),
    timestep: tensor(Float32Array.of(999, 500), [2]),
    encoder_hidden_states: tensor(randn([2, 77, width], 4), [2, 77, width]),
  };
  const model = serializeGraph(graph);
  const binding = await Session.fromSerialized(model, { providers: ['cpu'], intraOpThreads: 1, cpuSession: 'binding' });
  const native = await NativeSession.create(model, { provider: 'cpu', intraOpThreads: 1 });
  assert.deepEqual(native.inputNames, binding.inner.inputNames);
  assert.deepEqual(native.outputNames, binding.inner.outputNames);
  const want = (await binding.run(feeds))[UNET_OUTPUT];
  for (let i = 0; i < 3; i++) {
    // The third run gives the arena's free memory back at its end (the memory plan's stage boundary).
    const got = (await native.run(feeds, { releaseArena: i === 2 }))[UNET_OUTPUT];
    assert.deepEqual(got.dims, want.dims);
    assert.equal(got.type, 'float32');
    assert.ok(relL2(got.data as Float32Array, want.data as Float32Array) <= 1e-6, `run ${i}`);
  }
  // Run on koffi's worker pool instead of the calling thread: the same numbers.
  const pooled = await NativeSession.create(model, { provider: 'cpu', intraOpThreads: 1, runOn: 'worker' });
  assert.ok(relL2((await pooled.run(feeds))[UNET_OUTPUT].data as Float32Array, want.data as Float32Array) <= 1e-6);
  await pooled.release();
  // Without ORT's memory pattern (the memory plan's other setting) the numbers do not change.
  const unplanned = await NativeSession.create(model, { provider: 'cpu', intraOpThreads: 1, memPattern: false });
  assert.ok(relL2((await unplanned.run(feeds))[UNET_OUTPUT].data as Float32Array, want.data as Float32Array) <= 1e-6);
  await unplanned.release();
  await binding.release();
  await native.release();
  await native.release();
  await assert.rejects(native.run(feeds), /released/);
});

test('the OrtApi positions past 208 are the header\'s: GetBuildInfoString at 254 (the shared CUDA arena calls 259 after checking it)', () => {
  assert.match(String(ortCApi().call.GetBuildInfoString()), /^ORT Build Info: git-branch=.*git-commit-id=/);
});

test('the arena statistics (ORT 1.23\'s entries at 295–319): a run of 1 MiB tensors shows in MaxInUse, InUse falls after it', async () => {
  const g = new Graph('arena');
  const x = g.input('x', 'float32', [1 << 18]);
  g.output(mul(add(x, x), x), 'y');
  const native = await NativeSession.create(serializeGraph(g), { provider: 'cpu', memPattern: false });
  const before = native.arenaStats();
  await native.run({ x: tensor(new Float32Array(1 << 18).fill(2), [1 << 18]) });
  const after = native.arenaStats();
  await native.release();
  assert.ok(after.MaxInUse >= 2 ** 20, `MaxInUse ${after.MaxInUse} holds at least the 1 MiB intermediate`);
  assert.ok(after.NumAllocs > (before.NumAllocs ?? 0), 'the run allocated from the arena');
  assert.ok(after.InUse < after.MaxInUse, 'the intermediates were given back to the arena after the run');
  assert.ok(after.TotalAllocated >= after.MaxInUse);
});

test('the native session writes the per-node profile of ORT', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'native-profile-'));
  const g = new Graph('profiled');
  const x = g.input('x', 'float32', [4]);
  g.output(add(x, x), 'y');
  const native = await NativeSession.create(serializeGraph(g), { provider: 'cpu', profilePrefix: join(dir, 'p') });
  await native.run({ x: tensor(Float32Array.of(1, 2, 3, 4), [4]) });
  const file = native.endProfiling();
  await native.release();
  const events = JSON.parse(readFileSync(file, 'utf8')) as { cat: string; args?: { op_name?: string } }[];
  assert.ok(file.startsWith(join(dir, 'p')));
  assert.ok(events.some((e) => e.cat === 'Node' && e.args?.op_name === 'Add'), 'the Add node is in the trace');
  rmSync(dir, { recursive: true });
});

test('float16 and int64 tensors round-trip through the native session', async () => {
  const g = new Graph('types');
  const h = g.input('h', 'float16', [3]);
  const i = g.input('i', 'int64', [2]);
  g.output(add(h, h), 'h2');
  g.output(add(i, i), 'i2');
  const native = await NativeSession.create(serializeGraph(g), { provider: 'cpu' });
  const out = await native.run({ h: new ort.Tensor('float16', Uint16Array.of(0x3c00, 0x4000, 0xbc00), [3]), i: new ort.Tensor('int64', BigInt64Array.of(5n, -7n), [2]) });
  assert.deepEqual(Array.from(out.h2.data as Uint16Array), [0x4000, 0x4400, 0xc000]);
  assert.deepEqual(Array.from(out.i2.data as BigInt64Array), [10n, -14n]);
  await assert.rejects(native.run({ h: new ort.Tensor('float32', new Float32Array(3), [3]), i: new ort.Tensor('int64', BigInt64Array.of(1n, 2n), [2]) }), /Run: .*(type|float)/i);
  await native.release();
});

test('CUDA tunings: parsed and turned into provider options', () => {
  assert.deepEqual(cudaProviderOptions(STUDIO_CUDA_TUNING), { arena_extend_strategy: 'kSameAsRequested', cudnn_conv_algo_search: 'HEURISTIC', cudnn_conv_use_max_workspace: '0', prefer_nhwc: '1' });
  assert.equal(STUDIO_CUDA_TUNING.memPattern, false);
  assert.equal(STUDIO_CUDA_TUNING.plannerReuse, false);
  assert.equal(STUDIO_CUDA_TUNING.cudaMempool, true, "a split UNet's shared arena is CUDA's pool");
  assert.equal(STUDIO_CUDA_TUNING.sharedArena, undefined, 'whole graphs keep their own arenas');
  assert.deepEqual(parseCudaTuning('studio,mempool=0'), { ...STUDIO_CUDA_TUNING, cudaMempool: false });
  assert.deepEqual(parseCudaTuning('studio,reuse=1'), { ...STUDIO_CUDA_TUNING, plannerReuse: true });
  assert.throws(() => parseCudaTuning('reuse=yes'), /reuse=yes.*0 or 1/);
  assert.deepEqual(parseCudaTuning('default'), {});
  assert.deepEqual(parseCudaTuning('studio'), STUDIO_CUDA_TUNING);
  assert.deepEqual(parseCudaTuning('arena=kSameAsRequested,conv=HEURISTIC,maxws=0,nhwc=1,graph=0,limit=8000000000'), {
    arenaExtendStrategy: 'kSameAsRequested', cudnnConvAlgoSearch: 'HEURISTIC', cudnnConvUseMaxWorkspace: false, preferNhwc: true, enableCudaGraph: false, gpuMemLimit: 8e9,
  });
  assert.deepEqual(parseCudaTuning('default,mempattern=0'), { memPattern: false });
  assert.deepEqual(parseCudaTuning('studio,shared=1'), { ...STUDIO_CUDA_TUNING, sharedArena: true });
  assert.deepEqual(parseCudaTuning('default,mempool=1'), { sharedArena: true, cudaMempool: true }, 'the memory pool is the shared arena\'s');
  assert.deepEqual(parseCudaTuning('default,shared=1,mempool=0'), { sharedArena: true, cudaMempool: false }, 'mempool=0 leaves the shared arena alone');
  assert.deepEqual(cudaProviderOptions({ sharedArena: true }), {}, 'the shared arena is the environment\'s, not a provider option');
  assert.deepEqual(cudaProviderOptions(parseCudaTuning('sdpa=8,fuse=1')), { sdpa_kernel: '8', fuse_conv_bias: '1' });
  assert.throws(() => cudaProviderOptions({ sdpaKernel: 1.5 }), /sdpaKernel 1.5/);
  assert.deepEqual(parseCudaTuning('studio,nhwc=0,conv=EXHAUSTIVE'), { ...STUDIO_CUDA_TUNING, preferNhwc: false, cudnnConvAlgoSearch: 'EXHAUSTIVE' });
  assert.throws(() => parseCudaTuning('conv=FAST'), /conv=FAST.*conv=EXHAUSTIVE\|HEURISTIC\|DEFAULT/);
  assert.throws(() => parseCudaTuning('nhwc=yes'), /nhwc=yes.*0 or 1/);
  assert.throws(() => cudaProviderOptions({ gpuMemLimit: -1 }), /gpuMemLimit -1/);
});

test('a CUDA graph by default for the whole UNet (one shape, run() only), never for a split UNet\'s pieces (runKeeping); graph=0|1 overrides the rest', () => {
  const whole = unetSessionOptions(WHOLE);
  const split = unetSessionOptions({ ...WHOLE, split: true });
  assert.deepEqual(whole, { cudaGraph: true });
  assert.deepEqual(split, { sharedArena: true, cudaGraph: false });
  const studio = parseCudaTuning('studio');
  assert.equal(studio.enableCudaGraph, undefined, 'the studio tuning leaves graphs to the session');
  assert.equal(capturesCudaGraph(studio, whole.cudaGraph), true);
  assert.equal(capturesCudaGraph(studio, split.cudaGraph), false);
  assert.equal(capturesCudaGraph(studio, undefined), false, 'a session that promises nothing gets no graph');
  assert.equal(capturesCudaGraph(parseCudaTuning('studio,graph=0'), whole.cudaGraph), false);
  assert.equal(capturesCudaGraph(parseCudaTuning('studio,graph=1'), undefined), true);
  assert.equal(capturesCudaGraph(parseCudaTuning('studio,graph=1'), split.cudaGraph), false, 'pieces hand tensors on: graph=1 cannot give them one');
});

test('without the CUDA provider library the native CUDA session fails naming the provider', async () => {
  const g = new Graph('probe');
  const x = g.input('x', 'float32', [2]);
  g.output(add(x, x), 'y');
  // This machine's onnxruntime-node has no CUDA provider libraries (the GPU machine's kit adds them).
  const refusal = /the CUDA execution provider is not available: \S*libonnxruntime_providers_shared\.so could not be loaded .*CUDA \+ cuDNN/;
  await assert.rejects(NativeSession.create(serializeGraph(g), { provider: 'cuda', cuda: STUDIO_CUDA_TUNING }), refusal);
  assert.throws(() => cudaOptionsAsOrtReads({}), refusal);
});

test('CUDA sessions are tuned native ones unless STUDIO_CUDA_TUNING says binding; a refused native session falls back to the binding, said so', async () => {
  const saved = process.env.STUDIO_CUDA_TUNING;
  try {
    delete process.env.STUDIO_CUDA_TUNING;
    assert.deepEqual(cudaTuningFromEnvironment(), STUDIO_CUDA_TUNING);
    process.env.STUDIO_CUDA_TUNING = 'studio,nhwc=0';
    assert.equal(cudaTuningFromEnvironment()?.preferNhwc, false);
    process.env.STUDIO_CUDA_TUNING = 'binding';
    assert.equal(cudaTuningFromEnvironment(), undefined);
  } finally {
    if (saved === undefined) delete process.env.STUDIO_CUDA_TUNING;
    else process.env.STUDIO_CUDA_TUNING = saved;
  }
  // Here neither session can run CUDA: both refusals are named, the native one first.
  const g = new Graph('probe');
  const x = g.input('x', 'float32', [2]);
  g.output(add(x, x), 'y');
  await assert.rejects(Session.create(g, { providers: ['cuda'], cudaTuning: STUDIO_CUDA_TUNING }), /cuda: tuned native session refused \(the CUDA execution provider is not available.*onnxruntime-node's session instead; cuda: /);
});

test('CPU sessions are native ones without the planner\'s reuse unless STUDIO_CPU_SESSION or the options say binding', async () => {
  const g = new Graph('cpu-kind');
  const x = g.input('x', 'float32', [2]);
  g.output(add(x, x), 'y');
  const saved = process.env.STUDIO_CPU_SESSION;
  try {
    delete process.env.STUDIO_CPU_SESSION;
    assert.equal(cpuSessionFromEnvironment(), 'native');
    const native = await Session.create(g);
    assert.ok(native.inner instanceof NativeSession, 'the studio\'s default');
    assert.equal(native.fallbacks.length, 0, native.describe());
    assert.deepEqual(Array.from((await native.run({ x: tensor(Float32Array.of(1, 2), [2]) })).y.data as Float32Array), [2, 4]);
    await native.release();
    process.env.STUDIO_CPU_SESSION = 'binding';
    const binding = await Session.create(g);
    assert.ok(!(binding.inner instanceof NativeSession));
    assert.deepEqual(Array.from((await binding.run({ x: tensor(Float32Array.of(1, 2), [2]) })).y.data as Float32Array), [2, 4]);
    await binding.release();
    const asked = await Session.create(g, { cpuSession: 'native' });
    assert.ok(asked.inner instanceof NativeSession, 'the options win over the environment');
    await asked.release();
    process.env.STUDIO_CPU_SESSION = 'fast';
    assert.throws(() => cpuSessionFromEnvironment(), /STUDIO_CPU_SESSION="fast" is not understood; use native or binding/);
  } finally {
    if (saved === undefined) delete process.env.STUDIO_CPU_SESSION;
    else process.env.STUDIO_CPU_SESSION = saved;
  }
});

test('outputs kept by one native session feed another without the host (IO binding); onnxruntime-node holds them on the host, with the same numbers', async () => {
  const first = new Graph('first');
  const x = first.input('x', 'float32', [2, 3]);
  first.output(add(x, x), 'doubled');
  first.output(mul(x, x), 'squared');
  const second = new Graph('second');
  const d = second.input('doubled', 'float32', [2, 3]);
  const w = second.input('w', 'float32', [2, 3]);
  second.output(add(d, w), 'sum');
  const xs = tensor(Float32Array.of(1, 2, 3, -4, 5, 0.5), [2, 3]);
  const ws = tensor(Float32Array.of(10, 20, 30, 40, 50, 60), [2, 3]);
  const want = [12, 24, 36, 32, 60, 61];
  for (const cudaTuning of ['binding', STUDIO_CUDA_TUNING] as const) {
    // The CPU provider through both backends: native sessions bind the kept output in the CPU's memory.
    const native = cudaTuning !== 'binding';
    const a = native ? await NativeSession.create(serializeGraph(first), { provider: 'cpu' }) : await Session.create(first, { cpuSession: 'binding' });
    const b = native ? await NativeSession.create(serializeGraph(second), { provider: 'cpu' }) : await Session.create(second, { cpuSession: 'binding' });
    if (a instanceof NativeSession && b instanceof NativeSession) {
      const { host, device } = await a.runKeeping({ x: xs }, ['doubled']);
      assert.deepEqual(Object.keys(host), ['squared']);
      assert.deepEqual(Array.from(host.squared.data as Float32Array), [1, 4, 9, 16, 25, 0.25]);
      assert.deepEqual([device.doubled.type, [...device.doubled.dims]], ['float32', [2, 3]]);
      const out = await b.runKeeping({ doubled: device.doubled, w: ws }, [], { releaseArena: true });
      assert.deepEqual(Array.from(out.host.sum.data as Float32Array), want);
      device.doubled.release();
      assert.throws(() => device.doubled.handle, /released/);
      await assert.rejects(a.runKeeping({ x: xs }, ['nope']), /nope not among the outputs \(doubled, squared\)/);
      // Parked in host memory (pinned for CUDA): a native value too, never a JS array, fed back the same way.
      const parked = await a.runKeeping({ x: xs }, [], {}, ['doubled']);
      assert.deepEqual(Object.keys(parked.host), ['squared']);
      assert.equal(parked.device.doubled.inHostMemory, true);
      assert.deepEqual(Array.from((await b.runKeeping({ doubled: parked.device.doubled, w: ws }, [])).host.sum.data as Float32Array), want);
      parked.device.doubled.release();
      await assert.rejects(a.runKeeping({ x: xs }, [], {}, ['nope']), /nope not among the outputs/);
    } else if (a instanceof Session && b instanceof Session) {
      const { held } = await a.runKeeping({ x: xs }, ['doubled']);
      assert.equal(held.doubled.onDevice, false);
      const out = await b.runKeeping({ doubled: held.doubled, w: ws }, []);
      assert.deepEqual(Array.from(out.host.sum.data as Float32Array), want);
    }
    await a.release();
    await b.release();
  }
});

test('fixed buffers (what CUDA graphs need): new inputs copied into the same bound buffers, outputs read from theirs, one shape per session', async () => {
  const g = new Graph('fixed');
  const x = g.input('x', 'float32', [2, 3]);
  const w = g.input('w', 'float16', [3]);
  g.output(mul(x, x), 'squared');
  g.output(add(w, w), 'w2');
  const model = serializeGraph(g);
  const fixed = await NativeSession.create(model, { provider: 'cpu', fixedBuffers: true });
  const plain = await NativeSession.create(model, { provider: 'cpu' });
  assert.equal(fixed.cudaGraph, false);
  const outputs: Record<string, ort.Tensor>[] = [];
  for (let run = 0; run < 3; run++) {
    const feeds = { x: tensor(Float32Array.from({ length: 6 }, (_, i) => i - run * 2.5), [2, 3]), w: new ort.Tensor('float16', Uint16Array.of(0x3c00 + run, 0x4000, 0xbc00), [3]) };
    const got = await fixed.run(feeds, { releaseArena: run === 2 });
    const want = await plain.run(feeds);
    assert.deepEqual(Array.from(got.squared.data as Float32Array), Array.from(want.squared.data as Float32Array), `run ${run}`);
    assert.deepEqual(Array.from(got.w2.data as Uint16Array), Array.from(want.w2.data as Uint16Array), `run ${run}`);
    assert.deepEqual([...got.squared.dims], [2, 3]);
    outputs.push(got);
  }
  // Each run's outputs are host copies: the later runs did not overwrite the first one's.
  assert.deepEqual(Array.from(outputs[0].squared.data as Float32Array), [0, 1, 4, 9, 16, 25]);
  const zeros = new ort.Tensor('float16', new Uint16Array(3), [3]);
  await assert.rejects(fixed.run({ x: tensor(new Float32Array(3), [1, 3]), w: zeros }), /was set up for input "x" as float32 \[2, 3\]; this run gives float32 \[1, 3\].*create one per size/);
  await assert.rejects(fixed.run({ x: tensor(new Float32Array(6), [2, 3]) }), /binds the inputs x, w; this run lacks w/);
  await assert.rejects(fixed.runKeeping({ x: tensor(new Float32Array(6), [2, 3]), w: zeros }, ['squared']), /fixed addresses \(a CUDA graph: SessionOptions.cudaGraph or the tuning's graph=1; or fixedBuffers\).*use run\(\), or open sessions that hand tensors on with cudaGraph: false/);
  await fixed.release();
  await plain.release();
  await assert.rejects(fixed.run({ x: tensor(new Float32Array(6), [2, 3]), w: zeros }), /released/);
});

test('a CUDA graph that ORT refuses falls back to a session without one, said so; other failures are not taken for a refusal', async () => {
  // ORT's words when a model has nodes outside the CUDA provider (core/session/inference_session.cc).
  const refusal = 'CreateSessionFromArray: This session cannot use the graph capture feature as requested by the user as all compute graph nodes have not been partitioned to the CUDAExecutionProvider';
  const asked: boolean[] = [];
  const result = await withCudaGraphFallback(true, async (graph) => {
    asked.push(graph);
    if (graph) throw new Error(refusal);
    return 'plain session';
  });
  assert.deepEqual(asked, [true, false]);
  assert.deepEqual(result, { value: 'plain session', granted: false, note: 'CUDA graph refused by ORT (This session cannot use the graph capture feature as requested by the user as all compute graph nodes have not been partitioned to the CUDAExecutionProvider); the session runs without it' });
  assert.deepEqual(await withCudaGraphFallback(false, async (graph) => graph), { value: false, granted: false });
  // Here the CUDA provider library is missing: that error is not a graph refusal and reaches the caller as it is.
  const g = new Graph('graph-probe');
  const x = g.input('x', 'float32', [2]);
  g.output(add(x, x), 'y');
  await assert.rejects(NativeSession.create(serializeGraph(g), { provider: 'cuda', cuda: { ...STUDIO_CUDA_TUNING, enableCudaGraph: true } }), /the CUDA execution provider is not available/);
  assert.deepEqual(cudaProviderOptions(parseCudaTuning('studio,graph=1')), { ...cudaProviderOptions(STUDIO_CUDA_TUNING), enable_cuda_graph: '1' });
});
