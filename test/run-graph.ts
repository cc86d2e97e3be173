// Runs a graph once on the CPU and returns every output's data (float32 outputs).
import type { Graph } from '../pipelines/onnx/graph.ts';
import { Session, type ort } from '../pipelines/runtime/session.ts';

export async function runGraph(graph: Graph, feeds: Record<string, ort.Tensor>): Promise<Record<string, Float32Array>> {
  const session = await Session.create(graph, { providers: ['cpu'] });
  try {
    const out = await session.run(feeds);
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
  } finally {
    await session.release();
  }
}
