// A typed graph under construction: values with known dtypes and shapes, nodes, initializers.
// Weights are normally external data pointing straight into the user's .safetensors file (no copy,
// no 2 GB protobuf limit); small constants are inlined.
import { realpathSync } from 'node:fs';
import { parse as parsePath, relative, sep } from 'node:path';
import { ProtoWriter } from './protobuf.ts';
import type { SafetensorsDType, TensorInfo } from '../io/safetensors.ts';

export type DType =
  | 'float32' | 'float16' | 'bfloat16' | 'float64'
  | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool'
  | 'float8e4m3fn' | 'float8e5m2';

const ONNX_ELEM_TYPE: Record<DType, number> = {
  float32: 1, uint8: 2, int8: 3, int16: 5, int32: 6, int64: 7, bool: 9, float16: 10, float64: 11,
  bfloat16: 16, float8e4m3fn: 17, float8e5m2: 19,
};

export const FROM_SAFETENSORS: Record<SafetensorsDType, DType> = {
  F64: 'float64', F32: 'float32', F16: 'float16', BF16: 'bfloat16', F8_E4M3: 'float8e4m3fn', F8_E5M2: 'float8e5m2',
  I64: 'int64', I32: 'int32', I16: 'int16', I8: 'int8', U8: 'uint8', BOOL: 'bool',
};

export const isFloat = (d: DType): boolean => d.startsWith('float') || d === 'bfloat16';

/** A dimension: a number, or a symbolic name fixed when the session runs. */
export type Dim = number | string;

export class GraphError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GraphError';
  }
}

/** A value in the graph. Ops in ops.ts take and return these. */
export class T {
  constructor(readonly graph: Graph, readonly name: string, readonly dtype: DType, readonly shape: readonly Dim[]) {}

  get rank(): number {
    return this.shape.length;
  }

  /** A static dimension; negative indices count from the end. Throws if it is symbolic. */
  dim(i: number): number {
    const d = this.shape[i < 0 ? this.shape.length + i : i];
    if (typeof d !== 'number') throw new GraphError(`${this.name}: dimension ${i} is symbolic (${String(d)}), a static size is needed here`);
    return d;
  }

  toString(): string {
    return `${this.name}: ${this.dtype}[${this.shape.join(', ')}]`;
  }
}

export type Attr =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'ints'; value: readonly number[] }
  | { kind: 'floats'; value: readonly number[] };

export const attr = {
  int: (value: number): Attr => ({ kind: 'int', value }),
  float: (value: number): Attr => ({ kind: 'float', value }),
  string: (value: string): Attr => ({ kind: 'string', value }),
  ints: (value: readonly number[]): Attr => ({ kind: 'ints', value }),
  floats: (value: readonly number[]): Attr => ({ kind: 'floats', value }),
};

/** A node as a rewrite sees it (Graph.replaceNodes): its values rather than their names. */
export interface NodeView {
  /** The node's name in the model (ORT's profile and errors name nodes by it). */
  readonly name: string;
  readonly op: string;
  readonly domain: string;
  /** Omitted optional inputs are null. */
  readonly inputs: readonly (T | null)[];
  readonly outputs: readonly T[];
  readonly attrs: Readonly<Record<string, Attr>>;
}

interface NodeDef {
  op: string;
  domain: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, Attr>;
}

interface InitializerDef {
  name: string;
  dtype: DType;
  dims: number[];
  raw?: Uint8Array;
  external?: { file: string; offset: number; length: number };
}

export interface OutputSpec {
  dtype: DType;
  shape: readonly Dim[];
}

export interface GraphSummary {
  nodes: number;
  ops: Record<string, number>;
  parameters: number;
  initializerBytes: number;
  externalFiles: string[];
}

export class Graph {
  private nodes: NodeDef[] = [];
  /** Every value by name (inputs, initializers, node outputs), for rewrites. */
  private readonly values = new Map<string, T>();
  private readonly initializers = new Map<string, InitializerDef>();
  private readonly inputs: T[] = [];
  private readonly outputs: T[] = [];
  private readonly used = new Set<string>();
  private readonly scopes: string[] = [];
  private readonly constCache = new Map<string, T>();
  private readonly externalCache = new Map<string, T>();

  constructor(readonly name = 'studio', readonly opset = 21) {}

  /** Names of nodes and values created inside `fn` are prefixed by `name/`: a sub-graph reads as a block. */
  scope<R>(name: string, fn: () => R): R {
    this.scopes.push(name);
    try {
      return fn();
    } finally {
      this.scopes.pop();
    }
  }

  uniqueName(base: string): string {
    const full = [...this.scopes, base].join('/');
    let name = full;
    for (let i = 1; this.used.has(name); i++) name = `${full}_${i}`;
    this.used.add(name);
    return name;
  }

  input(name: string, dtype: DType, shape: readonly Dim[]): T {
    if (this.used.has(name)) throw new GraphError(`graph input name "${name}" is already used`);
    this.used.add(name);
    const t = new T(this, name, dtype, shape);
    this.inputs.push(t);
    this.values.set(name, t);
    return t;
  }

  /** Marks `t` as a graph output called `name` (adding an Identity when the value has another name). */
  output(t: T, name: string): T {
    const out = t.name === name ? t : this.node('Identity', [t], [{ dtype: t.dtype, shape: t.shape }], {}, '', name)[0];
    this.outputs.push(out);
    return out;
  }

  get inputNames(): string[] {
    return this.inputs.map((t) => t.name);
  }

  get outputNames(): string[] {
    return this.outputs.map((t) => t.name);
  }

  /** A small constant stored inline. Identical constants are shared. */
  constant(dtype: DType, shape: readonly number[], data: ArrayBufferView, name = 'const'): T {
    const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const key = raw.byteLength <= 256 ? `${dtype}|${shape.join(',')}|${Buffer.from(raw).toString('base64')}` : undefined;
    const hit = key && this.constCache.get(key);
    if (hit) return hit;
    const t = new T(this, this.uniqueName(name), dtype, shape);
    this.initializers.set(t.name, { name: t.name, dtype, dims: [...shape], raw: raw.slice() });
    this.values.set(t.name, t);
    if (key) this.constCache.set(key, t);
    return t;
  }

  /** A weight read by ORT straight from its safetensors file (external data, no copy in JS). */
  external(info: TensorInfo, name?: string): T {
    const key = `${info.file}#${info.name}`;
    const hit = this.externalCache.get(key);
    if (hit) return hit;
    const t = new T(this, this.uniqueName(name ?? info.name), FROM_SAFETENSORS[info.dtype], info.shape);
    this.values.set(t.name, t);
    this.initializers.set(t.name, {
      name: t.name,
      dtype: t.dtype,
      dims: [...info.shape],
      external: { file: info.file, offset: info.offset, length: info.byteLength },
    });
    this.externalCache.set(key, t);
    return t;
  }

  /** Adds one node. Shapes of the outputs are given by the caller (ops.ts infers them). */
  node(
    op: string,
    inputs: readonly (T | null | undefined)[],
    outputs: readonly OutputSpec[],
    attrs: Record<string, Attr> = {},
    domain = '',
    outputName?: string,
  ): T[] {
    for (const t of inputs) {
      if (t && t.graph !== this) throw new GraphError(`${op}: input ${t.name} belongs to another graph`);
    }
    const nodeName = this.uniqueName(op);
    const outs = outputs.map((o, i) => new T(this, outputName && i === 0 ? this.claim(outputName) : this.uniqueName(`${op}_out${i}`), o.dtype, o.shape));
    let names = inputs.map((t) => (t ? t.name : ''));
    while (names.length && names[names.length - 1] === '') names = names.slice(0, -1);
    this.nodes.push({ op, domain, name: nodeName, inputs: names, outputs: outs.map((o) => o.name), attrs });
    for (const o of outs) this.values.set(o.name, o);
    return outs;
  }

  /**
   * A whole-graph rewrite: each node that `match` selects is replaced, in place, by the nodes `emit` adds,
   * and the values `emit` returns take the names of the node's outputs (same dtypes and shapes), so the
   * rest of the graph reads them unchanged. Returns how many nodes were replaced.
   */
  replaceNodes(match: (n: NodeView) => boolean, emit: (n: NodeView) => readonly T[]): number {
    const original = this.nodes;
    this.nodes = [];
    let replaced = 0;
    try {
      for (const n of original) {
        const view: NodeView = {
          name: n.name,
          op: n.op,
          domain: n.domain,
          inputs: n.inputs.map((name) => (name ? this.valueNamed(name) : null)),
          outputs: n.outputs.map((name) => this.valueNamed(name)),
          attrs: n.attrs,
        };
        if (!match(view)) this.nodes.push(n);
        else {
          this.spliceRewrite(n, view, emit);
          replaced++;
        }
      }
    } catch (e) {
      this.nodes = original; // a failed rewrite leaves the graph as it was
      throw e;
    }
    return replaced;
  }

  /** Appends what `emit` adds for node `n` and renames its results to n's output names. */
  private spliceRewrite(n: NodeDef, view: NodeView, emit: (n: NodeView) => readonly T[]): void {
    const start = this.nodes.length;
    const results = emit(view);
    if (results.length !== n.outputs.length) throw new GraphError(`rewrite of ${n.name} gave ${results.length} values for ${n.outputs.length} outputs`);
    const added = this.nodes.slice(start);
    results.forEach((r, i) => {
      const want = view.outputs[i];
      if (r.dtype !== want.dtype || r.shape.join() !== want.shape.join()) throw new GraphError(`rewrite of ${n.name}: ${r} replaces ${want}`);
      if (!added.some((a) => a.outputs.includes(r.name))) {
        this.nodes.push({ op: 'Identity', domain: '', name: this.uniqueName('Identity'), inputs: [r.name], outputs: [want.name], attrs: {} });
        return;
      }
      for (const a of added) {
        a.outputs = a.outputs.map((o) => (o === r.name ? want.name : o));
        a.inputs = a.inputs.map((x) => (x === r.name ? want.name : x));
      }
    });
  }

  private valueNamed(name: string): T {
    const t = this.values.get(name);
    if (!t) throw new GraphError(`no value named "${name}" in graph "${this.name}"`);
    return t;
  }

  /**
   * Replaces the attributes of every `op` node already added (a whole-graph rewrite, e.g. every convolution
   * dilated); returns how many nodes it changed. Output shapes are not re-inferred: the rewrite must keep them.
   */
  rewriteAttributes(op: string, rewrite: (attrs: Readonly<Record<string, Attr>>) => Record<string, Attr>): number {
    const matching = this.nodes.filter((n) => n.op === op && n.domain === '');
    for (const n of matching) n.attrs = rewrite(n.attrs);
    return matching.length;
  }

  private claim(name: string): string {
    if (this.used.has(name)) throw new GraphError(`value name "${name}" is already used`);
    this.used.add(name);
    return name;
  }

  summary(): GraphSummary {
    const ops: Record<string, number> = {};
    for (const n of this.nodes) {
      const k = n.domain ? `${n.domain}.${n.op}` : n.op;
      ops[k] = (ops[k] ?? 0) + 1;
    }
    let parameters = 0;
    let initializerBytes = 0;
    const files = new Set<string>();
    for (const i of this.initializers.values()) {
      parameters += i.dims.reduce((a, b) => a * b, 1);
      initializerBytes += i.raw?.byteLength ?? i.external?.length ?? 0;
      if (i.external) files.add(i.external.file);
    }
    return { nodes: this.nodes.length, ops, parameters, initializerBytes, externalFiles: [...files] };
  }

  /**
   * Serialises the ModelProto. External data locations are relative to the filesystem root of the
   * weight files (ORT rejects absolute paths, `..` and symlinks), so the session must be created with
   * `externalDataFolder` as `session.model_external_initializers_file_folder_path`.
   */
  serialize(): { bytes: Uint8Array; externalDataFolder?: string } {
    if (this.outputs.length === 0) throw new GraphError(`graph "${this.name}" has no outputs`);
    const g = new ProtoWriter();
    for (const n of this.nodes) g.message(1, encodeNode(n));
    g.string(2, this.name);
    let root: string | undefined;
    const realPaths = new Map<string, string>();
    for (const init of this.initializers.values()) {
      let location: string | undefined;
      if (init.external) {
        let real = realPaths.get(init.external.file);
        if (!real) {
          real = realpathSync(init.external.file);
          realPaths.set(init.external.file, real);
        }
        const r = parsePath(real).root;
        if (root !== undefined && r !== root) {
          throw new GraphError(`weights come from files on different drives (${root} and ${r}); move them to one drive`);
        }
        root = r;
        location = relative(r, real).split(sep).join('/');
      }
      g.message(5, encodeInitializer(init, location));
    }
    for (const t of this.inputs) g.message(11, encodeValueInfo(t));
    for (const t of this.outputs) g.message(12, encodeValueInfo(t));
    const m = new ProtoWriter();
    m.int(1, 10); // ir_version
    m.string(2, 'diffusion-studio');
    m.message(8, new ProtoWriter().string(1, '').int(2, this.opset));
    m.message(8, new ProtoWriter().string(1, 'com.microsoft').int(2, 1));
    m.message(7, g);
    return { bytes: m.finish(), externalDataFolder: root };
  }
}

function encodeNode(n: NodeDef): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.name);
  w.string(4, n.op);
  for (const [name, a] of Object.entries(n.attrs)) w.message(5, encodeAttr(name, a));
  if (n.domain) w.string(7, n.domain);
  return w;
}

function encodeAttr(name: string, a: Attr): ProtoWriter {
  const w = new ProtoWriter().string(1, name);
  switch (a.kind) {
    case 'float': return w.float(2, a.value).int(20, 1);
    case 'int': return w.int(3, a.value).int(20, 2);
    case 'string': return w.string(4, a.value).int(20, 3);
    case 'floats': return w.packedFloats(7, a.value).int(20, 6);
    case 'ints': return w.packedInts(8, a.value).int(20, 7);
  }
}

function encodeInitializer(init: InitializerDef, location?: string): ProtoWriter {
  const w = new ProtoWriter();
  if (init.dims.length) w.packedInts(1, init.dims);
  w.int(2, ONNX_ELEM_TYPE[init.dtype]);
  w.string(8, init.name);
  if (init.raw) w.bytes(9, init.raw);
  if (init.external && location !== undefined) {
    const kv = (k: string, v: string) => new ProtoWriter().string(1, k).string(2, v);
    w.message(13, kv('location', location));
    w.message(13, kv('offset', String(init.external.offset)));
    w.message(13, kv('length', String(init.external.length)));
    w.int(14, 1);
  }
  return w;
}

function encodeValueInfo(t: T): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of t.shape) {
    shape.message(1, typeof d === 'number' ? new ProtoWriter().int(1, d) : new ProtoWriter().string(2, d));
  }
  const tensorType = new ProtoWriter().int(1, ONNX_ELEM_TYPE[t.dtype]).message(2, shape);
  return new ProtoWriter().string(1, t.name).message(2, new ProtoWriter().message(1, tensorType));
}
