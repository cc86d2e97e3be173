// Writes that are never seen half-done and never replace an existing file: the data goes to a hidden
// temporary file beside the target, is flushed, and is then hard-linked to the final name (link
// fails if the name exists, unlike rename). Ctrl-C at any moment leaves either nothing or the whole file.
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { link, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

const pendingTempFiles = new Set<string>();

/** File systems without hard links (FAT, some network shares) answer link() with one of these. */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EMLINK', 'EXDEV']);

/** Codes of a disk (or quota) with no room left. */
const NO_SPACE = new Set(['ENOSPC', 'EDQUOT']);

/** The disk was full: the file was not written, and nothing half-written was left beside it. */
export class DiskFullError extends Error {
  constructor(path: string, bytes: number, code: string) {
    super(`no space left on the disk holding ${dirname(path)} (${code}): ${basename(path)} (${bytes} bytes) was not written, and nothing half-written was left; free some space and run again`);
    this.name = 'DiskFullError';
  }
}

/**
 * Writes `data` to `path` only if nothing is there yet.
 * Returns false (writing nothing) when `path` already exists; throws DiskFullError when there is no room.
 */
export async function writeNewFileAtomic(path: string, data: Uint8Array): Promise<boolean> {
  try {
    return await writeThroughTemp(path, data);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    throw NO_SPACE.has(code) ? new DiskFullError(path, data.length, code) : e;
  }
}

async function writeThroughTemp(path: string, data: Uint8Array): Promise<boolean> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  pendingTempFiles.add(temp);
  try {
    const handle = await open(temp, 'wx');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await link(temp, path);
      return true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? '';
      if (code === 'EEXIST') return false;
      if (!NO_HARD_LINKS.has(code)) throw e;
      if (existsSync(path)) return false;
      await rename(temp, path);
      return true;
    }
  } finally {
    await rm(temp, { force: true });
    pendingTempFiles.delete(temp);
  }
}

/** For a forced exit (second Ctrl-C): removes the temporary files of writes still in flight. */
export function removePendingTempFilesSync(): void {
  for (const temp of pendingTempFiles) rmSync(temp, { force: true });
  pendingTempFiles.clear();
}
