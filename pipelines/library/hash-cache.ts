// SHA-256 hashes of model files kept in a small JSON file, keyed by path, size and modification
// time (A1111 keeps its `cache.json` the same way): a second listing of a library reads no file
// that has not changed. A damaged or foreign cache file is ignored and rewritten.
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { sha256File } from '../metadata/model-hash.ts';

const CacheSchema = z.object({
  version: z.literal(1),
  files: z.record(z.string(), z.object({ size: z.number(), mtimeMs: z.number(), sha256: z.string().regex(/^[0-9a-f]{64}$/) })),
});
type CacheData = z.infer<typeof CacheSchema>;

/** The user's cache folder for the studio (XDG on Linux, Library/Caches on macOS, LOCALAPPDATA on Windows). */
export function defaultHashCacheFile(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  const base =
    platform === 'win32'
      ? (env.LOCALAPPDATA ?? join(homedir(), 'AppData', 'Local'))
      : platform === 'darwin'
        ? join(homedir(), 'Library', 'Caches')
        : (env.XDG_CACHE_HOME ?? join(homedir(), '.cache'));
  return join(base, 'Diffusion Studio', 'model-hashes.json');
}

export class HashCache {
  /** Files read to hash them since the cache was opened. */
  read = 0;
  /** Hashes answered from the cache. */
  cached = 0;
  private changed = false;

  private constructor(readonly file: string, private readonly data: CacheData) {}

  static open(file: string): HashCache {
    let data: CacheData = { version: 1, files: {} };
    try {
      const parsed = CacheSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
      if (parsed.success) data = parsed.data;
    } catch {
      // No cache yet, or not readable: start empty.
    }
    return new HashCache(resolve(file), data);
  }

  async sha256(path: string): Promise<string> {
    const abs = resolve(path);
    const { size, mtimeMs } = statSync(abs);
    const hit = this.data.files[abs];
    if (hit && hit.size === size && hit.mtimeMs === mtimeMs) {
      this.cached++;
      return hit.sha256;
    }
    const sha256 = await sha256File(abs);
    this.read++;
    this.data.files[abs] = { size, mtimeMs, sha256 };
    this.changed = true;
    return sha256;
  }

  /**
   * Writes the cache when it learned something (write then rename, so a reader never sees half a file).
   * A cache that cannot be written costs only time: the listing still answers, and says so.
   */
  save(): string | undefined {
    if (!this.changed) return undefined;
    try {
      mkdirSync(dirname(this.file), { recursive: true });
      const tmp = `${this.file}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify(this.data));
      renameSync(tmp, this.file);
      this.changed = false;
      return undefined;
    } catch (e) {
      return `the hash cache ${this.file} could not be written (${(e as Error).message}); the next listing hashes the files again`;
    }
  }
}
