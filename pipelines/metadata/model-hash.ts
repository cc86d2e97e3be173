// Model hashes as A1111 and Civitai use them: SHA-256 of the whole file; `Model hash` shows the
// first 10 hex digits ("shorthash"). Diffusers folders get a hash of their files' hashes (sha256Folder).
import { createHash } from 'node:crypto';
import { createReadStream, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** SHA-256 of a file as hex; `onBytes` hears the running byte count (multi-GB checkpoints take seconds). */
export async function sha256File(path: string, onBytes?: (bytesRead: number) => void): Promise<string> {
  const hash = createHash('sha256');
  let read = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * 1024 * 1024 })) {
    hash.update(chunk as Buffer);
    read += (chunk as Buffer).length;
    onBytes?.(read);
  }
  return hash.digest('hex');
}

export function shortHash(sha256: string): string {
  return sha256.slice(0, 10);
}

/** The files of a diffusers folder that decide what it computes: weights, configs, tokenizer files (not READMEs or images). */
const FOLDER_CONTENT = /\.(safetensors|ckpt|pt|pth|bin|sft|json|txt|model)$/i;

/** Those files, as `/`-separated paths inside `dir`, sorted (hidden files and folders, e.g. a download cache, left out). */
export function folderContentFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (sub: string) => {
    for (const d of readdirSync(join(dir, sub), { withFileTypes: true })) {
      if (d.name.startsWith('.')) continue;
      const rel = sub ? `${sub}/${d.name}` : d.name;
      const stat = statSync(join(dir, rel), { throwIfNoEntry: false });
      if (stat?.isDirectory()) walk(rel);
      else if (stat?.isFile() && FOLDER_CONTENT.test(d.name)) out.push(rel);
    }
  };
  walk('');
  return out.sort();
}

/**
 * A diffusers folder's hash (A1111 defines none for folders): SHA-256 of the lines `<path>\t<SHA-256 of
 * the file>\n` over folderContentFiles, so it does not depend on where the folder lies, its name or
 * its files' dates, and changes when any weight or config does. `fileHash` may answer from a cache.
 */
export async function sha256Folder(dir: string, fileHash: (path: string) => Promise<string> = (p) => sha256File(p)): Promise<string> {
  const hash = createHash('sha256');
  for (const rel of folderContentFiles(dir)) hash.update(`${rel}\t${await fileHash(join(dir, ...rel.split('/')))}\n`);
  return hash.digest('hex');
}
