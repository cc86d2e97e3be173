// Steps of a native session with every input and output at a fixed device address, as ORT's CUDA graph capture
// (`enable_cuda_graph`) needs: the feeds are copied into the device once (through an Identity graph), the first run
// makes the outputs (runKeeping), and every later run writes into them (runInto). With graph capture on, run 2
// captures and runs 3… replay. The output of the last run is compared with the first one's (same inputs).
import { performance } from 'node:perf_hooks';
import { Graph, type DType } from '../../pipelines/onnx/graph.ts';
import { serializeGraph, type ort } from '../../pipelines/runtime/session.ts';
import { NativeSession, type NativeDeviceValue } from '../../pipelines/runtime/native/native-session.ts';
import { f16ToF32 } from '../../pipelines/io/float16.ts';
import { relL2 } from '../../test/fixtures.ts';

/** A session whose outputs are its inputs, copied: host tensors in, device tensors out (or the reverse). */
async function copySession(tensors: Record<string, { type: string; dims: readonly number[] }>, provider: 'cuda' | 'cpu'): Promise<NativeSession> {
  const g = new Graph('copy');
  for (const [name, t] of Object.entries(tensors)) {
    const x = g.input(name, t.type as DType, t.dims);
    g.output(g.node('Identity', [x], [{ dtype: x.dtype, shape: x.shape }])[0], `${name}.copy`);
  }
  return NativeSession.create(serializeGraph(g, { lowering: false }), { provider });
}

const asFloats = (t: ort.Tensor) => (t.type === 'float16' ? f16ToF32(t.data as Uint16Array) : (t.data as Float32Array));

export async function fixedAddressSteps(session: NativeSession, feeds: Record<string, ort.Tensor>, steps: number, provider: 'cuda' | 'cpu'): Promise<{ firstMs: number; times: number[]; note: string }> {
  const upload = await copySession(feeds, provider);
  const up = await upload.runKeeping(feeds, upload.outputNames);
  const inputs = Object.fromEntries(Object.keys(feeds).map((name) => [name, up.device[`${name}.copy`]]));
  let t0 = performance.now();
  const first = await session.runKeeping(inputs, session.outputNames);
  const firstMs = performance.now() - t0;
  const download = await copySession(first.device, provider);
  const read = async () => (await download.runKeeping(first.device, [])).host;
  const before = await read();
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    t0 = performance.now();
    await session.runInto(inputs, first.device);
    times.push(performance.now() - t0);
  }
  const after = await read();
  const diff = Math.max(...Object.keys(before).map((k) => relL2(asFloats(after[k]), asFloats(before[k]))));
  for (const v of [...Object.values(up.device), ...Object.values(first.device)] as NativeDeviceValue[]) v.release();
  await upload.release();
  await download.release();
  return { firstMs, times, note: `fixed addresses: last run vs first rel-L2 ${diff.toExponential(1)}` };
}
