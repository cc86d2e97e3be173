// The model library: every file of every kind in a models folder (A1111 or ComfyUI layout, and the
// studio's own: model files directly in the folder), and every diffusers folder, with its family and,
// when asked, A1111's hash through the hash cache (for a folder: sha256Folder over its files' hashes).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { LIBRARY_KINDS, type Library, type LibraryEntry, type LibraryKind } from '../jobs/api-library.ts';
import { folderContentFiles, sha256Folder, shortHash } from '../metadata/model-hash.ts';
import { classifyFile, classifyFolder, type Classified } from './classify.ts';
import { kindFolders } from './folders.ts';
import { HashCache } from './hash-cache.ts';

const WEIGHTS = /\.(safetensors|ckpt|pt|pth|bin|sft)$/i;
/** Sub-folders below a kind's folder that are searched (people sort LoRAs by style, character, …). */
const MAX_DEPTH = 4;

/**
 * Model files and diffusers folders under `dir`. A diffusers folder (classifyFolder) is one model, so
 * its parts are not listed by themselves; a single file's config folder (`<stem>/` beside
 * `<stem>.safetensors`) is not listed at all.
 */
function modelPaths(dir: string, depth: number): { path: string; folder?: Classified }[] {
  // Symbolic links count as what they point to (people link models between web UIs).
  const items = readdirSync(dir).filter((name) => !name.startsWith('.')).map((name) => ({ name, stat: statSync(join(dir, name), { throwIfNoEntry: false }) }));
  const stems = new Set(items.filter((d) => d.stat?.isFile() && WEIGHTS.test(d.name)).map((d) => d.name.replace(WEIGHTS, '')));
  return items.flatMap((d) => {
    const p = join(dir, d.name);
    if (d.stat?.isDirectory()) {
      if (stems.has(d.name)) return [];
      const folder = folderModel(p);
      if (folder) return [{ path: p, folder }];
      return depth > 0 ? modelPaths(p, depth - 1) : [];
    }
    return d.stat?.isFile() && WEIGHTS.test(d.name) ? [{ path: p }] : [];
  });
}

/** What a folder holds as a model, or undefined for a folder to search; a folder that cannot be read is listed with why. */
function folderModel(path: string): Classified | undefined {
  try {
    return classifyFolder(path);
  } catch (e) {
    return { kind: 'checkpoint', description: (e as Error).message };
  }
}

/** One file or diffusers folder: its kind from its tensors or configs (the folder's kind when they do not tell), family, size. */
function describe(dir: string, item: { path: string; folder?: Classified }, folderKind: LibraryKind | undefined): LibraryEntry | undefined {
  const { path, folder } = item;
  const last = path.slice(path.lastIndexOf(sep) + 1);
  const base = { name: folder ? last : last.replace(WEIGHTS, ''), path, relativePath: relative(dir, path).split(sep).join('/') };
  if (folder) {
    const sizeBytes = folderContentFiles(path).reduce((a, rel) => a + statSync(join(path, rel)).size, 0);
    const entry = { ...base, sizeBytes, folder: true, kind: folder.kind ?? folderKind ?? 'checkpoint', ...(folder.family ? { family: folder.family } : {}) };
    return folder.kind ? entry : { ...entry, problem: folder.description ?? 'not a model folder the studio reads' };
  }
  const file = { ...base, sizeBytes: statSync(path).size };
  try {
    const c = classifyFile(path);
    if (c.kind) return { ...file, kind: c.kind, ...(c.family ? { family: c.family } : {}) };
    // A file straight in the studio's models folder that is no kind of model file is not listed.
    if (!folderKind) return undefined;
    return { ...file, kind: folderKind, problem: `in the ${folderKind} folder but it holds ${c.description}` };
  } catch (e) {
    return { ...file, kind: folderKind ?? 'checkpoint', problem: (e as Error).message };
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
  const add = (item: { path: string; folder?: Classified }, kind: LibraryKind | undefined) => {
    if (seen.has(item.path)) return;
    seen.add(item.path);
    const entry = describe(dir, item, kind);
    if (entry) entries.push(entry);
  };
  for (const { kind, folder } of kindFolders(dir)) for (const item of modelPaths(folder, MAX_DEPTH)) add(item, kind);
  for (const item of modelPaths(dir, 0)) add(item, undefined);
  entries.sort((a, b) => LIBRARY_KINDS.indexOf(a.kind) - LIBRARY_KINDS.indexOf(b.kind) || a.relativePath.localeCompare(b.relativePath));

  const cache = options.hashes;
  if (!cache) return { dir, entries };
  for (const [i, entry] of entries.entries()) {
    options.progress?.(i, entries.length);
    entry.sha256 = entry.folder ? await sha256Folder(entry.path, (file) => cache.sha256(file)) : await cache.sha256(entry.path);
    entry.shortHash = shortHash(entry.sha256);
  }
  options.progress?.(entries.length, entries.length);
  const problem = cache.save();
  return { dir, entries, hashing: { read: cache.read, cached: cache.cached, cacheFile: cache.file, ...(problem ? { problem } : {}) } };
}
