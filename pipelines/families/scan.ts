// The models folder as the model picker shows it: checkpoint files and diffusers folders, each with
// the family the registry recognises from its tensor names or config (headers only; no weights are
// read), that family's defaults and the methods it runs. Files that cannot be read are listed with
// the reason.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { detectPath } from '../checkpoints/index.ts';
import type { EmbeddedModel, ModelCatalog, ModelEntry } from '../jobs/api.ts';
import { DEFAULT_MODEL, FAMILIES, methodNames } from './registry.ts';
import type { ModelProbe } from './types.ts';

const CHECKPOINT_EXTENSIONS = /\.(safetensors|ckpt|pt|pth)$/i;

function describe(entry: ModelEntry, probe: () => ModelProbe): ModelEntry {
  try {
    const p = probe();
    const family = FAMILIES.map((f) => ({ f, score: f.score(p) })).filter((s) => s.score > 0).sort((a, b) => b.score - a.score)[0]?.f;
    if (!family) return { ...entry, problem: p.detection ? `${p.detection.description}: not a model family the studio runs` : 'not a model the studio knows' };
    return { ...entry, family: family.id, methods: methodNames(family), defaults: family.defaults };
  } catch (e) {
    return { ...entry, problem: (e as Error).message };
  }
}

/** One checkpoint file as the picker lists it. */
export function modelFileEntry(path: string): ModelEntry {
  const entry: ModelEntry = { name: basename(path).replace(CHECKPOINT_EXTENSIONS, ''), path, kind: 'file', methods: [], sizeBytes: statSync(path).size };
  return describe(entry, () => ({ target: path, detection: detectPath(path) }));
}

/** One diffusers folder as the picker lists it. */
export function modelFolderEntry(path: string, sizeBytes = 0): ModelEntry {
  return describe({ name: basename(path), path, kind: 'folder', methods: [], sizeBytes }, () => ({ target: path, detection: detectPath(path) }));
}

/** Every model in `dir` (one level deep), by name. A missing folder is an empty list. */
export function scanModels(dir: string): ModelEntry[] {
  if (!existsSync(dir)) return [];
  const found: ModelEntry[] = [];
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    if (d.name.startsWith('.')) continue;
    const path = join(dir, d.name);
    if (d.isDirectory()) {
      if (!existsSync(join(path, 'model_index.json'))) continue;
      found.push(modelFolderEntry(path));
    } else if (d.isFile() && CHECKPOINT_EXTENSIONS.test(d.name)) {
      found.push(modelFileEntry(path));
    }
  }
  return found.sort((a, b) => a.name.localeCompare(b.name));
}

/** The built-in models that are installed (a broken install lists none rather than failing the picker). */
export function embeddedModels(): EmbeddedModel[] {
  return FAMILIES.filter((f) => f.builtIn).flatMap((f): EmbeddedModel[] => {
    try {
      return [{ name: f.id, architecture: f.id, heads: f.heads !== undefined, story: f.methods.story, defaults: f.defaults }];
    } catch {
      return [];
    }
  });
}

export function modelCatalog(dir: string): ModelCatalog {
  return { models: scanModels(dir), embedded: embeddedModels(), defaultModel: DEFAULT_MODEL };
}
