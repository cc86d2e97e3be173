// Reading a plugin's files without trusting it: every path it names must stay inside its folder
// (no "..", no absolute paths, no links that lead out), nothing is read past a size cap, and the
// whole folder is checked for links out and oversized files before anything is used.
import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readSync, realpathSync } from 'node:fs';
import { isAbsolute, join, relative, sep } from 'node:path';

export const LIMITS = {
  /** studio-plugin.json and package.json. */
  manifestBytes: 256 * 1024,
  /** A style file the manifest names. */
  dataFileBytes: 4 * 1024 * 1024,
  /** Any file in the plugin: a presets package has no reason to carry large files (weights, archives). */
  fileBytes: 16 * 1024 * 1024,
  totalBytes: 64 * 1024 * 1024,
  entries: 5000,
  depth: 16,
};

const MiB = 1024 * 1024;
const size = (n: number) => (n >= MiB ? `${(n / MiB).toFixed(1)} MiB` : `${Math.ceil(n / 1024)} KiB`);

/** True when `path` is `root` or inside it (both real paths). */
export function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/**
 * Walks the plugin folder (not following links) and returns what is wrong with it: links whose
 * target is outside the folder (or missing), files over the per-file cap, too many files or bytes.
 */
export function inspectTree(root: string): string[] {
  const problems: string[] = [];
  let entries = 0;
  let total = 0;
  const walk = (dir: string, depth: number): void => {
    if (depth > LIMITS.depth) {
      problems.push(`${relative(root, dir)}: folders nest deeper than ${LIMITS.depth} levels`);
      return;
    }
    for (const name of readdirSync(dir).sort()) {
      if (++entries > LIMITS.entries) {
        if (entries === LIMITS.entries + 1) problems.push(`more than ${LIMITS.entries} files and folders; a presets plugin needs far fewer`);
        return;
      }
      const path = join(dir, name);
      const rel = relative(root, path);
      const st = lstatSync(path);
      if (st.isSymbolicLink()) {
        let target: string;
        try {
          target = realpathSync(path);
        } catch {
          problems.push(`${rel}: a link to something that does not exist`);
          continue;
        }
        if (!isInside(root, target)) problems.push(`${rel}: links out of the plugin (to ${target}); links may only point inside the plugin folder`);
      } else if (st.isDirectory()) {
        walk(path, depth + 1);
      } else if (st.isFile()) {
        total += st.size;
        if (st.size > LIMITS.fileBytes) problems.push(`${rel}: ${size(st.size)} is too large (at most ${size(LIMITS.fileBytes)} per file in a plugin)`);
      } else {
        problems.push(`${rel}: not a regular file or folder (a device, socket or pipe)`);
      }
    }
  };
  walk(root, 0);
  if (total > LIMITS.totalBytes) problems.push(`the plugin holds ${size(total)} of files; at most ${size(LIMITS.totalBytes)}`);
  return problems;
}

export class PluginFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PluginFileError';
  }
}

/**
 * The real path of a file the manifest names, checked: relative, no "..", no backslashes, and
 * (after links) still inside the plugin and a regular file.
 */
export function resolveInside(root: string, name: string, field: string): string {
  const bad = (why: string) => new PluginFileError(`${field}: "${name}" ${why}`);
  if (name === '' || name.includes('\0')) throw bad('is not a file name');
  if (isAbsolute(name) || /^[A-Za-z]:/.test(name) || name.startsWith('/')) throw bad('is an absolute path; name a file inside the plugin folder');
  if (name.includes('\\')) throw bad('uses "\\"; write paths with "/"');
  if (name.split('/').some((part) => part === '..')) throw bad('goes up out of the plugin folder (".." is not allowed)');
  const path = join(root, ...name.split('/'));
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    throw bad('does not exist in the plugin');
  }
  if (!isInside(root, real)) throw bad(`leads out of the plugin (to ${real})`);
  if (!lstatSync(real).isFile()) throw bad('is not a regular file');
  return real;
}

/** Reads a checked file as UTF-8, refusing more than `cap` bytes (counted while reading, not only from stat). */
export function readCapped(path: string, cap: number, what: string): string {
  const fd = openSync(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
  try {
    const declared = fstatSync(fd).size;
    if (declared > cap) throw new PluginFileError(`${what}: ${size(declared)} is too large (at most ${size(cap)})`);
    const buf = Buffer.alloc(cap + 1);
    let n = 0;
    for (let r; n <= cap && (r = readSync(fd, buf, n, cap + 1 - n, null)) > 0; ) n += r;
    if (n > cap) throw new PluginFileError(`${what}: more than ${size(cap)} (the file grew while being read)`);
    const text = buf.subarray(0, n).toString('utf8');
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  } finally {
    closeSync(fd);
  }
}

/** `a${sep}b` → `a/b`, for messages that read the same on every platform. */
export function shown(path: string): string {
  return path.split(sep).join('/');
}
