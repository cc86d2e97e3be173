// GPU probe (run on the GPU machine, see bench/NOTES.md): which AgentSD ops lack WebGPU kernels, and
// one-layer timings softmax vs agent. `node agent-webgpu.mjs LABEL all|ops|layers` after an esbuild bundle.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SafetensorsFile, writeSafetensors, f32ToF16 } from '../pipelines/io/safetensors.ts';
import { Graph, type T } from '../pipelines/onnx/graph.ts';
import * as op from '../pipelines/onnx/ops.ts';
import { Weights } from '../pipelines/onnx/weights.ts';
import { AgentAttention } from '../pipelines/attention/agent.ts';
import { softmaxAttention } from '../pipelines/attention/softmax.ts';
import type { SelfAttentionVariant } from '../pipelines/attention/self-attention.ts';
import { MT19937 } from '../pipelines/random/mt19937.ts';
import { Session, ort } from '../pipelines/runtime/session.ts';

const label = process.argv[2] ?? 'tree';
const mode = process.argv[3] ?? 'all';
const err = (e: unknown) => String(e instanceof Error ? e.message : e).replace(/\s+/g, ' ').slice(0, 300);

async function opProbe(name: string, build: (g: Graph) => T): Promise<void> {
  const g = new Graph(`probe-${name}`);
  g.output(build(g), 'out');
  try {
    await Session.create(g, { providers: [(process.env.PROBE_EP ?? 'webgpu') as 'webgpu'], forbidCpuFallback: true });
    console.log(`op ${name}: webgpu ok`);
  } catch (e) { console.log(`op ${name}: FAIL ${err(e)}`); }
}

async function ops(): Promise<void> {
  const f = (g: Graph, s: number[]) => g.input('x', 'float32', s);
  const i = (g: Graph, s: number[], n = 'i') => g.input(n, 'int64', s);
  await opProbe('TopK-f32', (g) => op.topK(f(g, [2, 64]), 64, -1, true).indices);
  await opProbe('ArgMax-f32', (g) => op.argMax(f(g, [2, 64, 16]), -1));
  await opProbe('ReduceMax-f32', (g) => op.reduceMax(f(g, [2, 64, 16]), [-1], false));
  await opProbe('GatherElements-i64', (g) => op.gatherElements(i(g, [2, 64]), i(g, [2, 8], 'j'), 1));
  await opProbe('GatherElements-f32', (g) => op.gatherElements(f(g, [2, 64]), i(g, [2, 8], 'j'), 1));
  await opProbe('ScatterND-add-f32', (g) => op.scatterND(f(g, [64, 8]), i(g, [16, 1]), g.input('u', 'float32', [16, 8]), 'add'));
  await opProbe('ScatterND-none-f32', (g) => op.scatterND(f(g, [64, 8]), i(g, [16, 1]), g.input('u', 'float32', [16, 8]), 'none'));
  await opProbe('Gather-f32-i64idx', (g) => op.gather(f(g, [64, 8]), i(g, [16]), 0));
  await opProbe('Gather-i64', (g) => op.gather(i(g, [2, 64]), i(g, [64], 'j'), 1));
  await opProbe('Add-i64', (g) => op.add(i(g, [2, 64]), i(g, [2, 64], 'j')));
  await opProbe('Sub-i64', (g) => op.sub(i(g, [2, 64]), i(g, [2, 64], 'j')));
  await opProbe('Less-i64', (g) => op.cast(op.less(i(g, [2, 64]), i(g, [2, 64], 'j')), 'float32'));
  await opProbe('Equal-i64', (g) => op.cast(op.equal(i(g, [2, 64]), i(g, [2, 64], 'j')), 'float32'));
  await opProbe('Where-i64', (g) => op.where(op.less(f(g, [2, 64]), g.input('y', 'float32', [2, 64])), i(g, [2, 64]), i(g, [2, 64], 'j')));
  await opProbe('Cast-i64-f32', (g) => op.cast(i(g, [2, 64]), 'float32'));
  await opProbe('Cast-f32-i64', (g) => op.cast(f(g, [2, 64]), 'int64'));
  await opProbe('Slice-i64', (g) => op.slice(i(g, [2, 64]), [1], [8], [64]));
  await opProbe('Concat-i64', (g) => op.concat([i(g, [2, 64]), i(g, [2, 64], 'j')], 1));
  await opProbe('Expand-i64', (g) => op.expand(i(g, [1, 64]), [2, 64]));
  const i32 = (g: Graph, s: number[], n = 'k') => g.input(n, 'int32', s);
  await opProbe('CumSum-f32', (g) => g.node('CumSum', [f(g, [2, 64]), g.constant('int64', [], BigInt64Array.of(1n), 'ax')], [{ dtype: 'float32', shape: [2, 64] }])[0]);
  await opProbe('Equal-f32', (g) => op.cast(op.equal(f(g, [2, 64]), g.input('y', 'float32', [2, 1])), 'float32'));
  await opProbe('Greater-f32', (g) => op.cast(op.greater(f(g, [2, 64]), g.input('y', 'float32', [2, 1])), 'float32'));
  await opProbe('Where-f32', (g) => (() => { const a = f(g, [2, 64]); const b = g.input('y', 'float32', [2, 64]); return op.where(op.less(a, b), a, b); })());
  await opProbe('Cast-f32-i32', (g) => op.cast(f(g, [2, 64]), 'int32'));
  await opProbe('Cast-i32-f32', (g) => op.cast(i32(g, [2, 64]), 'float32'));
  await opProbe('Cast-i64-i32', (g) => op.cast(i(g, [2, 64]), 'int32'));
  await opProbe('Gather-f16-i32idx', (g) => op.gather(g.input('h', 'float16', [64, 8]), i32(g, [16]), 0));
  await opProbe('Gather-i32-i32idx', (g) => op.gather(i32(g, [2, 64]), i32(g, [64], 'j'), 1));
  await opProbe('Slice-i32', (g) => op.slice(i32(g, [2, 64]), [1], [8], [64]));
  await opProbe('Add-i32', (g) => op.add(i32(g, [2, 64]), i32(g, [2, 64], 'j')));
  await opProbe('ArgMax-f32-then-Cast-f32', (g) => op.cast(op.argMax(f(g, [2, 64, 16]), -1), 'float32'));
  await opProbe('ArgMax-f32-then-Cast-i32', (g) => op.cast(op.argMax(f(g, [2, 64, 16]), -1), 'int32'));
  await opProbe('MatMul-f16-3d', (g) => op.matmul(g.input('h', 'float16', [2, 16, 64]), g.input('h2', 'float16', [2, 64, 8])));
  await opProbe('ReduceSum-f32', (g) => op.reduceSum(f(g, [2, 64, 16]), [-1]));
  await opProbe('Floor-f32', (g) => g.node('Floor', [f(g, [2, 64])], [{ dtype: 'float32', shape: [2, 64] }])[0]);
  await opProbe('Reshape-i64', (g) => op.reshape(i(g, [2, 64]), [128]));
}

const C = 320, HEADS = 8, B = 2;
function weightsFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'agentprobe-'));
  const mt = new MT19937(7n);
  const rnd = (n: number) => Float32Array.from({ length: n }, () => (mt.nextUint32() / 2 ** 32 - 0.5) * 0.1);
  const h = (n: number, shape: number[]) => ({ dtype: 'F16' as const, shape, data: f32ToF16(rnd(n)) });
  const path = join(dir, 'w.safetensors');
  writeSafetensors(path, { 'attn1.to_q.weight': h(C * C, [C, C]), 'attn1.to_k.weight': h(C * C, [C, C]), 'attn1.to_v.weight': h(C * C, [C, C]), 'attn1.to_out.0.weight': h(C * C, [C, C]), 'attn1.to_out.0.bias': h(C, [C]) });
  return path;
}

function layerGraph(path: string, variant: SelfAttentionVariant, side: number): Graph {
  const g = new Graph(`layer-${variant.kind}-${side}`);
  variant.prepare?.([]);
  const n = side * side;
  const x = g.input('x', 'float16', [B, n, C]);
  const y = g.input('y', 'float16', [B, n, C]);
  const layer = { index: 0, name: 'attn1', heads: HEADS, channels: C, downsample: 1 };
  const grid = { height: side, width: side };
  const r = variant.apply({ layer, weights: new Weights(g, SafetensorsFile.open(path), 'float16', 'attn1'), hidden: y, blockInput: x, grid, latent: grid, upcast: false });
  g.output(r.project(r.heads), 'out');
  return g;
}

async function layers(): Promise<void> {
  const path = weightsFile();
  for (const side of (process.env.PROBE_SIDES ?? '64,128').split(',').map(Number)) {
    for (const kind of ['softmax', 'agent']) {
      const variant = kind === 'softmax' ? softmaxAttention() : new AgentAttention();
      const g = layerGraph(path, variant, side);
      let strict = 'ok';
      try { await (await Session.create(g, { providers: [(process.env.PROBE_EP ?? 'webgpu') as 'webgpu'], forbidCpuFallback: true })).release(); } catch (e) { strict = `FAIL ${err(e)}`; }
      if (kind === 'agent' && side === 64) {
        console.error('==== INFO-level session log for agent 64x64 ====');
        await (await Session.create(g, { providers: [(process.env.PROBE_EP ?? 'webgpu') as 'webgpu'], logSeverity: 1 })).release();
        console.error('==== end ====');
      }
      const s = await Session.create(g, { providers: [(process.env.PROBE_EP ?? 'webgpu') as 'webgpu'] });
      const n = side * side;
      const mt = new MT19937(3n);
      const half = () => new ort.Tensor('float16', f32ToF16(Float32Array.from({ length: B * n * C }, () => mt.nextUint32() / 2 ** 32 - 0.5)), [B, n, C]);
      const feeds: Record<string, ort.Tensor> = { x: half(), y: half(), ...(variant instanceof AgentAttention ? variant.feeds(B, new MT19937(5n)) : {}) };
      await s.run(feeds);
      const times: number[] = [];
      for (let k = 0; k < 20; k++) { const t0 = performance.now(); await s.run(feeds); times.push(performance.now() - t0); }
      times.sort((a, b) => a - b);
      console.log(`layer ${label} ${kind} ${side}x${side} fp16 B=${B}: strict=${strict}; median ${times[10].toFixed(2)} ms (min ${times[0].toFixed(2)}, N=20)`);
      await s.release();
    }
  }
}

if (mode !== 'layers') await ops();
if (mode !== 'ops') await layers();
