// The dit-tiny and dico-tiny graphs on the WebGPU provider against the CPU provider (fp32: rel-L2 < 1e-3),
// plus DiT against its golden output, and an fp16 WebGPU run for reference. Exits 1 when a check fails.
//
//   STUDIO_FIXTURES=<dir with dit-tiny*, dico-tiny*> npx tsx bench/webgpu-check.ts
import { readFileSync } from 'node:fs';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import type { Graph } from '../pipelines/onnx/graph.ts';
import { parseDiTConfig } from '../pipelines/models/dit/config.ts';
import { buildDiTGraph } from '../pipelines/models/dit/model.ts';
import { parseDiCoConfig } from '../pipelines/models/dico/config.ts';
import { buildDiCoGraph } from '../pipelines/models/dico/model.ts';
import { Session, ort, tensor, type Provider } from '../pipelines/runtime/session.ts';
import { fixture, relL2 } from '../test/fixtures.ts';

type Build = (dtype: 'float32' | 'float16') => Graph;

async function runOn(provider: Provider, graph: Graph, feeds: Record<string, ort.Tensor>): Promise<{ out: Float32Array; note: string }> {
  let session: Session;
  let note = 'every node on the provider';
  try {
    session = await Session.create(graph, { providers: [provider], forbidCpuFallback: provider !== 'cpu' });
  } catch (e) {
    note = `CPU fallback needed (${(e as Error).message.slice(0, 160)})`;
    session = await Session.create(graph, { providers: [provider] });
  }
  if (session.provider !== provider) throw new Error(`asked for ${provider}, got ${session.provider}`);
  try {
    return { out: (await session.run(feeds)).out.data as Float32Array, note };
  } finally {
    await session.release();
  }
}

let failed = false;
async function check(name: string, build: Build, golden: SafetensorsFile, goldenName?: string): Promise<void> {
  const shape = golden.info('x').shape;
  const feeds = {
    x: tensor(golden.readFloat32('x'), shape),
    t: tensor(golden.readFloat32('t'), [shape[0]]),
    y: new ort.Tensor('int64', BigInt64Array.from(golden.readFloat32('y'), (v) => BigInt(v)), [shape[0]]),
  };
  const cpu = await runOn('cpu', build('float32'), feeds);
  const gpu = await runOn('webgpu', build('float32'), feeds);
  const gpu16 = await runOn('webgpu', build('float16'), feeds);
  const err = relL2(gpu.out, cpu.out);
  const ok = err < 1e-3;
  failed ||= !ok;
  console.log(`${name}: webgpu fp32 vs cpu fp32 rel-L2 ${err.toExponential(2)} ${ok ? 'OK' : 'FAIL'} (< 1e-3); webgpu: ${gpu.note}`);
  if (goldenName) {
    const ref = golden.readFloat32(goldenName);
    console.log(`${name}: cpu vs golden ${relL2(cpu.out, ref).toExponential(2)}, webgpu vs golden ${relL2(gpu.out, ref).toExponential(2)}`);
  }
  console.log(`${name}: webgpu fp16 vs cpu fp32 rel-L2 ${relL2(gpu16.out, cpu.out).toExponential(2)} (for reference); fp16: ${gpu16.note}`);
}

const ditCfg = parseDiTConfig((JSON.parse(readFileSync(fixture('dit-tiny.json'), 'utf8')) as { config: unknown }).config);
const ditGolden = SafetensorsFile.open(fixture('dit-tiny-golden.safetensors'));
const ditWeights = SafetensorsFile.open(fixture('dit-tiny.safetensors'));
const [b, , h, w] = ditGolden.info('x').shape;
await check('dit-tiny', (dtype) => buildDiTGraph(ditWeights, ditCfg, { batch: b, height: h, width: w, dtype }), ditGolden, 'out');

const dicoCfg = parseDiCoConfig((JSON.parse(readFileSync(fixture('dico-tiny.json'), 'utf8')) as { config: unknown }).config);
const dicoGolden = SafetensorsFile.open(fixture('dico-tiny-golden.safetensors'));
const dicoWeights = SafetensorsFile.open(fixture('dico-tiny.safetensors'));
await check('dico-tiny', (dtype) => buildDiCoGraph(dicoWeights, dicoCfg, { batch: b, height: h, width: w, dtype }), dicoGolden);

process.exit(failed ? 1 : 0);
