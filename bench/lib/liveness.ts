// The most memory a graph's intermediate tensors need at once if each is freed right after its last reader, with
// the nodes run in the order the graph was built: a lower bound for what a runtime holds (ORT also inserts layout
// transposes, keeps kernel scratch and rounds in its arena), to tell the graph's own need from the allocator's.
import type { Graph, NodeView, T } from '../../pipelines/onnx/graph.ts';

const WIDTH: Record<string, number> = { float16: 2, bfloat16: 2, float32: 4, int64: 8, int32: 4, bool: 1, uint8: 1, int8: 1, float64: 8 };

export const tensorBytes = (t: T): number => t.shape.reduce<number>((a, d) => a * (typeof d === 'number' ? d : 1), WIDTH[t.dtype] ?? 4);

export interface LivenessPeak {
  bytes: number;
  /** The node running at the peak. */
  node: string;
  /** The tensors alive then, largest first. */
  live: { name: string; bytes: number }[];
}

/** The graph's nodes in order (Graph.replaceNodes visits every node; none is replaced). */
export function nodesOf(graph: Graph): NodeView[] {
  const nodes: NodeView[] = [];
  graph.replaceNodes((n) => (nodes.push(n), false), () => []);
  return nodes;
}

/** Peak of the tensors the nodes make (graph inputs and initializers are the caller's); outputs matching `kept` live to the end. */
export function livenessPeak(nodes: readonly NodeView[], kept: (name: string) => boolean): LivenessPeak {
  const lastRead = new Map<string, number>();
  nodes.forEach((n, i) => n.inputs.forEach((t) => t && lastRead.set(t.name, i)));
  const live = new Map<string, number>();
  let peak: LivenessPeak = { bytes: 0, node: '', live: [] };
  let total = 0;
  nodes.forEach((n, i) => {
    for (const o of n.outputs) {
      live.set(o.name, tensorBytes(o));
      total += tensorBytes(o);
    }
    if (total > peak.bytes) peak = { bytes: total, node: n.name, live: [...live].map(([name, bytes]) => ({ name, bytes })).sort((a, b) => b.bytes - a.bytes) };
    const free = (name: string) => {
      total -= live.get(name) ?? 0;
      live.delete(name);
    };
    for (const t of n.inputs) if (t && live.has(t.name) && lastRead.get(t.name) === i && !kept(t.name)) free(t.name);
    for (const o of n.outputs) if (!lastRead.has(o.name) && !kept(o.name)) free(o.name);
  });
  return peak;
}
