// Where `--out` puts images. A path ending in .png is one file; anything else is a folder that gets
// A1111-style names NNNNN-SEED.png, numbered on from the highest number already there, so running
// the same command twice adds files and never replaces any.
import { existsSync, statSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { writeNewFileAtomic } from '../../pipelines/queue/atomic-write.ts';
import { UsageError } from './exit-codes.ts';

const NUMBERED = /^(\d+)-/;

export function numberedName(index: number, seed: number): string {
  return `${String(index).padStart(5, '0')}-${seed}.png`;
}

/** The number after the highest NNNNN- prefix among the folder's files (0 for an empty folder). */
export async function nextFileNumber(dir: string): Promise<number> {
  let next = 0;
  for (const name of await readdir(dir)) {
    const m = NUMBERED.exec(name);
    if (m) next = Math.max(next, Number(m[1]) + 1);
  }
  return next;
}

export class OutputTarget {
  private constructor(
    readonly kind: 'file' | 'dir',
    /** The file, or the folder. */
    readonly path: string,
    private nextNumber: number,
  ) {}

  /** Checks `--out` against the batch size and creates the folder; throws UsageError for a bad target. */
  static async prepare(out: string, batch: number): Promise<OutputTarget> {
    const path = resolve(out);
    if (/\.png$/i.test(out)) {
      if (batch > 1) throw new UsageError(`--out ${out} names one file but --batch is ${batch}: give a folder instead`);
      if (existsSync(path)) throw new UsageError(`--out: ${out} already exists; choose another name or remove it first`);
      await mkdir(dirname(path), { recursive: true });
      return new OutputTarget('file', path, 0);
    }
    if (existsSync(path) && !statSync(path).isDirectory()) {
      throw new UsageError(`--out: ${out} is a file, not a folder (end the name in .png to write one image)`);
    }
    await mkdir(path, { recursive: true });
    return new OutputTarget('dir', path, await nextFileNumber(path));
  }

  /** Writes one PNG atomically and returns its path. */
  async write(png: Uint8Array, seed: number): Promise<string> {
    if (this.kind === 'file') {
      if (!(await writeNewFileAtomic(this.path, png))) throw new Error(`${this.path} appeared while generating; not overwriting it`);
      return this.path;
    }
    // A name taken meanwhile (another run writing to the same folder) moves us to the next number.
    for (let tries = 0; tries < 10_000; tries++) {
      const file = join(this.path, numberedName(this.nextNumber++, seed));
      if (await writeNewFileAtomic(file, png)) return file;
    }
    throw new Error(`could not find a free file name in ${this.path}`);
  }
}
