// LoRAs by name, as A1111 finds them: `<lora:NAME:WEIGHT>` tags in a prompt (removed from the text
// before it is encoded) and names looked up in the LoRA folder (A1111's `models/Lora`, ComfyUI's
// `models/loras`), subfolders included. A missing name lists the folder searched and the closest names.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { LoraRef } from '../jobs/api-generate.ts';
export { extractLoraTags } from '../jobs/api-library.ts';
import type { LoraRequest } from './apply.ts';

/** The LoRA folders of a models folder, A1111's and ComfyUI's layouts (and the models folder's own `Lora/`). */
export function loraFolders(modelsDir: string | undefined): string[] {
  if (!modelsDir) return [];
  return ['Lora', 'loras', 'LoRA', join('models', 'Lora'), join('models', 'loras')].map((d) => join(modelsDir, d));
}

function filesUnder(dir: string, depth = 3): string[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = join(dir, d.name);
    if (d.isDirectory()) return depth > 0 ? filesUnder(p, depth - 1) : [];
    return /\.safetensors$/i.test(d.name) ? [p] : [];
  });
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const next = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = row[j];
      row[j] = next;
    }
  }
  return row[b.length];
}

export class LoraNotFoundError extends Error {
  constructor(readonly lora: string, readonly searched: string[], readonly closest: string[]) {
    const where = searched.length ? `searched ${searched.join(', ')}` : 'no LoRA folder is set (give --lora-dir DIR or --models-dir DIR)';
    super(`LoRA "${lora}" not found: ${where}${closest.length ? `; closest names: ${closest.join(', ')}` : ''}. Give a .safetensors path or a name from the LoRA folder`);
    this.name = 'LoraNotFoundError';
  }
}

/** A name or path → the file; `dirs` are searched in order (stem match, case-insensitive as on Windows). */
export function findLora(name: string, dirs: readonly string[]): string {
  if (existsSync(name) && statSync(name).isFile()) return resolve(name);
  const files = dirs.flatMap((d) => filesUnder(d));
  const want = basename(name).replace(/\.safetensors$/i, '').toLowerCase();
  const hit = files.find((f) => basename(f).replace(/\.safetensors$/i, '').toLowerCase() === want);
  if (hit) return hit;
  const stems = [...new Set(files.map((f) => basename(f).replace(/\.safetensors$/i, '')))];
  const closest = stems.map((s) => ({ s, d: distance(s.toLowerCase(), want) })).sort((a, b) => a.d - b.d).slice(0, 3).map((x) => x.s);
  throw new LoraNotFoundError(name, dirs.filter((d) => existsSync(d)).length ? dirs.filter((d) => existsSync(d)) : [...dirs], closest);
}

/** The LoRAs of a request: those asked for explicitly, then the prompt's tags, as files with weights. */
export function resolveLoras(refs: readonly LoraRef[], loraDir: string | undefined, modelsDir: string | undefined): LoraRequest[] {
  const dirs = loraDir ? [loraDir] : loraFolders(modelsDir);
  return refs.map((r) => ({ path: findLora(r.name, dirs), weight: r.weight }));
}
