// Checkpoint tensors as graph values: looked up by name (with a prefix), shape-checked against what
// the architecture expects, and cast to the compute dtype inside the graph (ORT folds the Cast at load).
import { GraphError, type DType, type Graph, type T } from './graph.ts';
import { cast, transpose } from './ops.ts';
import type { TensorInfo } from '../io/safetensors.ts';

/** Where named tensors come from: a safetensors file, or a view that renames another layout's keys. */
export interface TensorSource {
  readonly path: string;
  has(name: string): boolean;
  info(name: string): TensorInfo;
}

export class CheckpointShapeError extends GraphError {
  constructor(readonly file: string, readonly tensor: string, message: string) {
    super(`${file} (tensor "${tensor}"): ${message}`);
    this.name = 'CheckpointShapeError';
  }
}

/**
 * Per graph and source, the values already made from a tensor, so a layer applied to several pieces of its
 * input (ops.inPieces) shares one weight instead of one folded copy per piece.
 */
const madeValues = new WeakMap<Graph, Map<TensorSource, Map<string, T>>>();

function once(graph: Graph, source: TensorSource, key: string, make: () => T): T {
  let bySource = madeValues.get(graph);
  if (!bySource) madeValues.set(graph, (bySource = new Map()));
  let made = bySource.get(source);
  if (!made) bySource.set(source, (made = new Map()));
  let t = made.get(key);
  if (!t) made.set(key, (t = make()));
  return t;
}

export class Weights {
  constructor(
    readonly graph: Graph,
    readonly file: TensorSource,
    readonly dtype: DType,
    readonly prefix = '',
  ) {}

  /** A view of the tensors under `prefix.` */
  sub(prefix: string): Weights {
    return new Weights(this.graph, this.file, this.dtype, this.key(prefix));
  }

  key(name: string): string {
    return this.prefix ? `${this.prefix}.${name}` : name;
  }

  has(name: string): boolean {
    return this.file.has(this.key(name));
  }

  /** The tensor `name`, checked against `shape` when given (use -1 for a free dimension). */
  get(name: string, shape?: readonly number[]): T {
    const key = this.key(name);
    if (!this.file.has(key)) {
      throw new CheckpointShapeError(this.file.path, key, 'missing: the checkpoint does not fit this architecture (wrong model family or an incomplete file)');
    }
    const info = this.file.info(key);
    if (shape && (shape.length !== info.shape.length || shape.some((d, i) => d !== -1 && d !== info.shape[i]))) {
      throw new CheckpointShapeError(this.file.path, key, `has shape [${info.shape}] but the architecture expects [${shape.map((d) => (d === -1 ? '?' : d))}]`);
    }
    return once(this.graph, this.file, `${key}\0${this.dtype}`, () => cast(this.graph.external(info), this.dtype));
  }

  optional(name: string, shape?: readonly number[]): T | undefined {
    return this.has(name) ? this.get(name, shape) : undefined;
  }

  /** A PyTorch Linear weight [out, in] transposed to [in, out] for MatMul (folded at load). */
  linear(name: string, outFeatures?: number, inFeatures?: number): T {
    const w = this.get(name, outFeatures !== undefined && inFeatures !== undefined ? [outFeatures, inFeatures] : undefined);
    if (w.rank !== 2) throw new CheckpointShapeError(this.file.path, this.key(name), `is not a 2-D Linear weight (${w.shape})`);
    return once(this.graph, this.file, `${this.key(name)}\0${this.dtype}\0transposed`, () => transpose(w, [1, 0]));
  }

  shapeOf(name: string): number[] {
    return [...this.file.info(this.key(name)).shape];
  }
}

/** A source whose names are mapped onto another source's names (e.g. diffusers names → single-file keys). */
export class RenamedSource implements TensorSource {
  constructor(readonly inner: TensorSource, private readonly rename: (name: string) => string | undefined, readonly path = inner.path) {}

  has(name: string): boolean {
    const k = this.rename(name);
    return k !== undefined && this.inner.has(k);
  }

  info(name: string): TensorInfo {
    const k = this.rename(name);
    if (k === undefined) throw new CheckpointShapeError(this.path, name, 'no tensor of this name in this checkpoint layout');
    return this.inner.info(k);
  }
}
