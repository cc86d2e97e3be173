// Reading model config JSON (diffusers / HF `config.json`) with errors that name the file and the field.
import { existsSync, readFileSync } from 'node:fs';
import { parsePythonJson } from '../io/python-json.ts';

export type JsonObject = Record<string, unknown>;

export class ConfigError extends Error {
  constructor(readonly file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'ConfigError';
  }
}

export function readJsonObject(file: string): JsonObject {
  if (!existsSync(file)) throw new ConfigError(file, 'file not found');
  let value: unknown;
  try {
    value = parsePythonJson(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConfigError(file, `not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(value)) throw new ConfigError(file, 'expected a JSON object at the top level');
  return value;
}

export const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Typed field access on one config object; `source` names the file in errors. */
export class Fields {
  constructor(readonly obj: JsonObject, readonly source: string) {}

  private fail(key: string, want: string): never {
    throw new ConfigError(this.source, `field "${key}" should be ${want} but is ${JSON.stringify(this.obj[key])}`);
  }

  has(key: string): boolean {
    return this.obj[key] !== undefined && this.obj[key] !== null;
  }

  num(key: string, fallback?: number): number {
    const v = this.obj[key];
    if ((v === undefined || v === null) && fallback !== undefined) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) return this.fail(key, 'a number');
    return v;
  }

  int(key: string, fallback?: number): number {
    const v = this.num(key, fallback);
    if (!Number.isInteger(v)) return this.fail(key, 'an integer');
    return v;
  }

  optionalNum(key: string): number | undefined {
    return this.has(key) ? this.num(key) : undefined;
  }

  str(key: string, fallback?: string): string {
    const v = this.obj[key];
    if ((v === undefined || v === null) && fallback !== undefined) return fallback;
    if (typeof v !== 'string') return this.fail(key, 'a string');
    return v;
  }

  bool(key: string, fallback?: boolean): boolean {
    const v = this.obj[key];
    if ((v === undefined || v === null) && fallback !== undefined) return fallback;
    if (typeof v !== 'boolean') return this.fail(key, 'true or false');
    return v;
  }

  ints(key: string, fallback?: number[]): number[] {
    const v = this.obj[key];
    if ((v === undefined || v === null) && fallback !== undefined) return fallback;
    if (!Array.isArray(v) || !v.every((x) => Number.isInteger(x))) return this.fail(key, 'a list of integers');
    return v as number[];
  }

  optionalNums(key: string): number[] | undefined {
    const v = this.obj[key];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'number')) return this.fail(key, 'a list of numbers');
    return v as number[];
  }

  strs(key: string, fallback?: string[]): string[] {
    const v = this.obj[key];
    if ((v === undefined || v === null) && fallback !== undefined) return fallback;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) return this.fail(key, 'a list of strings');
    return v as string[];
  }
}
