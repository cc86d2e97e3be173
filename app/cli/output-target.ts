// Where `--out` puts images. A path ending in .png is one file; anything else is a folder that gets
// A1111-style names NNNNN-SEED.png, numbered on from the highest number already there, so running
// the same command twice adds files and never replaces any.
import { existsSync, statSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
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

/**
 * Creates the folder and proves it takes a file, before any model is loaded: a read-only or
 * unreachable --out must not be found only after the whole generation.
 */
async function ensureWritableFolder(dir: string, out: string): Promise<void> {
  const probe = join(dir, `.studio-write-check-${process.pid}`);
  try {
    await makeFolders(dir);
    await writeFile(probe, '');
    await rm(probe, { force: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new UsageError(`--out ${out}: the folder ${dir} cannot be written (${code}); choose a folder you can write to`);
  }
}

/**
 * `mkdir -p` one level at a time: Node's recursive mkdir never returns for some paths that cannot be
 * made (e.g. under /proc/self), where a plain mkdir fails with a code.
 */
async function makeFolders(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let d = dir; !existsSync(d) && dirname(d) !== d; d = dirname(d)) missing.unshift(d);
  for (const d of missing) {
    await mkdir(d).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e; // another run made it meanwhile
    });
  }
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
      await ensureWritableFolder(dirname(path), out);
      return new OutputTarget('file', path, 0);
    }
    if (existsSync(path) && !statSync(path).isDirectory()) {
      throw new UsageError(`--out: ${out} is a file, not a folder (end the name in .png to write one image)`);
    }
    await ensureWritableFolder(path, out);
    return new OutputTarget('dir', path, await nextFileNumber(path));
  }

  /**
   * Writes a ladder stage's image beside the final ones (FILE-stageK-WxH.png, or in a folder
   * stage-SEED-BATCH-K-WxH.png, which leaves the numbering alone) and returns its path.
   */
  async writeStage(png: Uint8Array, seed: number, batchIndex: number, stage: { index: number; width: number; height: number }): Promise<string> {
    const tail = `${stage.index}-${stage.width}x${stage.height}`;
    const base = this.kind === 'file' ? this.path.replace(/\.png$/i, `-stage${tail}`) : join(this.path, `stage-${seed}-${batchIndex}-${tail}`);
    for (let tries = 0; tries < 1000; tries++) {
      const file = `${base}${tries ? `-${tries}` : ''}.png`;
      if (await writeNewFileAtomic(file, png)) return file;
    }
    throw new Error(`could not find a free file name for ${base}.png`);
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
