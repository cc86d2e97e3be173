// TensorSources that can also list their names: one safetensors file, a sharded set (diffusers/HF
// `*.safetensors.index.json`), or a renamed view of either (single-file keys seen under diffusers names).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SafetensorsFile, type TensorInfo } from '../io/safetensors.ts';
import { RenamedSource, type TensorSource } from '../onnx/weights.ts';
import { readJsonObject, isObject, ConfigError } from './json-fields.ts';

export interface KeyedSource extends TensorSource {
  keys(): string[];
}

/** A view of `inner` under new names: `names` maps each new name to the inner name. */
export class MappedSource extends RenamedSource implements KeyedSource {
  constructor(inner: TensorSource, private readonly names: ReadonlyMap<string, string>, path = inner.path) {
    super(inner, (name) => names.get(name), path);
  }

  keys(): string[] {
    return [...this.names.keys()];
  }

  /** The inner (e.g. single-file) name of `name`. */
  innerName(name: string): string | undefined {
    return this.names.get(name);
  }
}

/**
 * Renames the keys of `inner` with `rename` (inner name → new name, undefined to drop it). Two inner
 * tensors claiming one new name is a bug in a key map, so it throws.
 */
export function mapKeys(inner: KeyedSource, rename: (innerName: string) => string | undefined, path = inner.path): MappedSource {
  const names = new Map<string, string>();
  for (const k of inner.keys()) {
    const n = rename(k);
    if (n === undefined) continue;
    const prev = names.get(n);
    if (prev !== undefined) throw new Error(`${path}: tensors "${prev}" and "${k}" both map to "${n}"`);
    names.set(n, k);
  }
  return new MappedSource(inner, names, path);
}

/** The tensors under `prefix` with the prefix removed. */
export function withoutPrefix(inner: KeyedSource, prefix: string): MappedSource {
  return mapKeys(inner, (k) => (k.startsWith(prefix) ? k.slice(prefix.length) : undefined));
}

/** Weights split over several safetensors files, joined by an index's `weight_map`. */
export class ShardedSource implements KeyedSource {
  private readonly files = new Map<string, SafetensorsFile>();

  constructor(
    readonly path: string,
    private readonly weightMap: ReadonlyMap<string, string>,
  ) {}

  static open(indexFile: string): ShardedSource {
    const index = readJsonObject(indexFile);
    if (!isObject(index.weight_map)) throw new ConfigError(indexFile, 'has no "weight_map" object: not a sharded-checkpoint index');
    const map = new Map<string, string>();
    for (const [name, shard] of Object.entries(index.weight_map)) {
      if (typeof shard !== 'string') throw new ConfigError(indexFile, `weight_map entry "${name}" is not a file name`);
      map.set(name, join(dirname(indexFile), shard));
    }
    for (const shard of new Set(map.values())) {
      if (!existsSync(shard)) throw new ConfigError(indexFile, `names shard ${shard}, which does not exist (incomplete download?)`);
    }
    return new ShardedSource(indexFile, map);
  }

  private shard(name: string): SafetensorsFile {
    const file = this.weightMap.get(name);
    if (file === undefined) throw new ConfigError(this.path, `no tensor "${name}" in the index`);
    let st = this.files.get(file);
    if (!st) {
      st = SafetensorsFile.open(file);
      this.files.set(file, st);
    }
    return st;
  }

  has(name: string): boolean {
    return this.weightMap.has(name);
  }

  info(name: string): TensorInfo {
    return this.shard(name).info(name);
  }

  keys(): string[] {
    return [...this.weightMap.keys()];
  }
}

/** Counts `prefix<N>suffix` indices present (0, 1, 2, … until one is missing). */
export function countIndexed(src: TensorSource, prefix: string, suffix: string): number {
  let n = 0;
  while (src.has(`${prefix}${n}${suffix}`)) n++;
  return n;
}

/** Distinct values of `N` over keys that look like `prefix<N>.…`. */
export function indicesUnder(keys: readonly string[], prefix: string): number[] {
  const found = new Set<number>();
  for (const k of keys) {
    if (!k.startsWith(prefix)) continue;
    const m = /^(\d+)\./.exec(k.slice(prefix.length));
    if (m) found.add(Number(m[1]));
  }
  return [...found].sort((a, b) => a - b);
}

export function shapeOf(src: TensorSource, name: string): number[] {
  return [...src.info(name).shape];
}
