// The model library: every file of every kind in a models folder (A1111 or ComfyUI layout, and the
// studio's own: model files directly in the folder), with its family and, when asked, A1111's hash
// through the hash cache.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { LIBRARY_KINDS, type Library, type LibraryEntry, type LibraryKind } from '../jobs/api-library.ts';
import { shortHash } from '../metadata/model-hash.ts';
import { classifyFile } from './classify.ts';
import { kindFolders } from './folders.ts';
import { HashCache } from './hash-cache.ts';

const WEIGHTS = /\.(safetensors|ckpt|pt|pth|bin|sft)$/i;
/** Sub-folders below a kind's folder that are searched (people sort LoRAs by style, character, …). */
const MAX_DEPTH = 4;

/**
 * Weight files under `dir`. Not searched: diffusers folders (model_index.json: their parts are not
 * models by themselves) and a single file's config folder (`<stem>/` beside `<stem>.safetensors`).
 */
function weightFiles(dir: string, depth: number): string[] {
  // Symbolic links count as what they point to (people link models between web UIs).
  const items = readdirSync(dir).filter((name) => !name.startsWith('.')).map((name) => ({ name, stat: statSync(join(dir, name), { throwIfNoEntry: false }) }));
  const stems = new Set(items.filter((d) => d.stat?.isFile() && WEIGHTS.test(d.name)).map((d) => d.name.replace(WEIGHTS, '')));
  return items.flatMap((d) => {
    const p = join(dir, d.name);
    if (d.stat?.isDirectory()) return depth > 0 && !stems.has(d.name) && !existsSync(join(p, 'model_index.json')) ? weightFiles(p, depth - 1) : [];
    return d.stat?.isFile() && WEIGHTS.test(d.name) ? [p] : [];
  });
}

/** One file: its kind from its tensors (the folder's kind when they do not tell), family, size. */
function describe(dir: string, path: string, folderKind: LibraryKind | undefined): LibraryEntry | undefined {
  const base = { name: path.slice(path.lastIndexOf(sep) + 1).replace(WEIGHTS, ''), path, relativePath: relative(dir, path).split(sep).join('/'), sizeBytes: statSync(path).size };
  try {
    const c = classifyFile(path);
    if (c.kind) return { ...base, kind: c.kind, ...(c.family ? { family: c.family } : {}) };
    // A file straight in the studio's models folder that is no kind of model file is not listed.
    if (!folderKind) return undefined;
    return { ...base, kind: folderKind, problem: `in the ${folderKind} folder but it holds ${c.description}` };
  } catch (e) {
    return { ...base, kind: folderKind ?? 'checkpoint', problem: (e as Error).message };
  }
}

export interface ScanOptions {
  /** Hash every file (A1111's short hash), through this cache. */
  hashes?: HashCache;
  /** Hears the hashing: files done of all. */
  progress?: (done: number, total: number) => void;
}

export async function scanLibrary(dir: string, options: ScanOptions = {}): Promise<Library> {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new Error(`models folder ${dir} does not exist: give the A1111 or ComfyUI folder (or its models/ folder) with --dir DIR`);
  }
  const seen = new Set<string>();
  const entries: LibraryEntry[] = [];
  const add = (path: string, kind: LibraryKind | undefined) => {
    if (seen.has(path)) return;
    seen.add(path);
    const entry = describe(dir, path, kind);
    if (entry) entries.push(entry);
  };
  for (const { kind, folder } of kindFolders(dir)) for (const path of weightFiles(folder, MAX_DEPTH)) add(path, kind);
  for (const path of weightFiles(dir, 0)) add(path, undefined);
  entries.sort((a, b) => LIBRARY_KINDS.indexOf(a.kind) - LIBRARY_KINDS.indexOf(b.kind) || a.relativePath.localeCompare(b.relativePath));

  const cache = options.hashes;
  if (!cache) return { dir, entries };
  for (const [i, entry] of entries.entries()) {
    options.progress?.(i, entries.length);
    entry.sha256 = await cache.sha256(entry.path);
    entry.shortHash = shortHash(entry.sha256);
  }
  options.progress?.(entries.length, entries.length);
  const problem = cache.save();
  return { dir, entries, hashing: { read: cache.read, cached: cache.cached, cacheFile: cache.file, ...(problem ? { problem } : {}) } };
}
