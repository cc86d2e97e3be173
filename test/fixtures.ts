import { cpSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve, join } from 'node:path';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';

const ROOT = resolve(import.meta.dirname, '..');

/** Directory of the reference fixtures (golden outputs), or undefined when this machine lacks them. */
export function fixturesDir(): string | undefined {
  const dir = resolve(ROOT, process.env.STUDIO_FIXTURES ?? '../shared/fixtures');
  return existsSync(join(dir, 'README.md')) ? dir : undefined;
}

/** `skip` option for node:test: a reason string when the fixtures are missing. */
export const skipWithoutFixtures: string | false = fixturesDir()
  ? false
  : 'reference fixtures not found (set STUDIO_FIXTURES or check out shared/ beside the repo)';

export function fixture(...parts: string[]): string {
  const dir = fixturesDir();
  if (!dir) throw new Error(String(skipWithoutFixtures));
  return join(dir, ...parts);
}

/** The tiny SD3 folder (test/fixtures) with the CLIP tokenizers from ../shared/fixtures (CLIP's vocabulary is not ours to commit), in a temp folder. */
export function sd3TinyFolder(): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'sd3-tiny-')), 'sd3-tiny');
  cpSync(resolve(import.meta.dirname, 'fixtures', 'sd3-tiny'), dir, { recursive: true });
  cpSync(fixture('sdxl-tiny', 'tokenizer'), join(dir, 'tokenizer'), { recursive: true });
  cpSync(fixture('sdxl-tiny', 'tokenizer_2'), join(dir, 'tokenizer_2'), { recursive: true });
  return dir;
}

/** A tiny class-conditional fixture (`dit-tiny`, `dico-tiny`): its config checked by `parse`, weights and golden outputs. */
export function tinyClassConditional<C>(name: string, parse: (raw: unknown, source: string) => C): { cfg: C; weights: SafetensorsFile; golden: SafetensorsFile } {
  const json = JSON.parse(readFileSync(fixture(`${name}.json`), 'utf8')) as { config: unknown };
  return {
    cfg: parse(json.config, `${name}.json`),
    weights: SafetensorsFile.open(fixture(`${name}.safetensors`)),
    golden: SafetensorsFile.open(fixture(`${name}-golden.safetensors`)),
  };
}

/** Relative L2 error ||a-b|| / ||b||. */
export function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch: ${a.length} vs ${b.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    num += d * d;
    den += b[i] * b[i];
  }
  return Math.sqrt(num / (den || 1));
}
