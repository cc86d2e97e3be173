// The model library as `studio models` and the studio show it: every checkpoint, LoRA, embedding, VAE,
// ControlNet, IP-Adapter (and CLIP image encoder) and upscaler in a models folder laid out as A1111's or ComfyUI's, with its family and
// A1111's short hash, and how an image's metadata finds its files in it (by hash, not by path).
// Data only, so the renderer may import it.
import { z } from 'zod';
import type { LoraRef } from './api-generate.ts';

export const LIBRARY_KINDS = ['checkpoint', 'lora', 'embedding', 'vae', 'controlnet', 'ip-adapter', 'image-encoder', 'upscaler'] as const;
export type LibraryKind = (typeof LIBRARY_KINDS)[number];

export const LibraryEntrySchema = z.object({
  kind: z.enum(LIBRARY_KINDS),
  /** The file name without its extension: what A1111 writes as `Model:` and in `<lora:NAME:…>`. */
  name: z.string(),
  path: z.string(),
  /** The path inside the models folder, `/`-separated. */
  relativePath: z.string(),
  /** The registry's family id (sd1, sd2, sdxl, …) when the file's tensors tell it. */
  family: z.string().optional(),
  sizeBytes: z.number().nonnegative(),
  /** A diffusers folder (a pipeline with model_index.json, or a ControlNet / VAE folder) rather than one file. */
  folder: z.boolean().optional(),
  /**
   * SHA-256 of the whole file (asked for with `hashes`). A folder has no A1111 hash; its hash is SHA-256 of
   * the lines `<path in folder>\t<SHA-256 of the file>\n` over its weights, configs and tokenizer files.
   */
  sha256: z.string().optional(),
  /** A1111's "AutoV2" short hash: the first 10 hex digits of the SHA-256. */
  shortHash: z.string().optional(),
  /** Why the file cannot be used, when it cannot be read. */
  problem: z.string().optional(),
});
export type LibraryEntry = z.infer<typeof LibraryEntrySchema>;

export const LibraryHashingSchema = z.object({
  /** Files read to hash them in this listing. */
  read: z.int().nonnegative(),
  /** Hashes taken from the cache (same path, size and modification time). */
  cached: z.int().nonnegative(),
  cacheFile: z.string(),
  /** Why the cache could not be written, when it could not. */
  problem: z.string().optional(),
});
export type LibraryHashing = z.infer<typeof LibraryHashingSchema>;

export interface Library {
  dir: string;
  entries: LibraryEntry[];
  /** Present when hashes were asked for. */
  hashing?: LibraryHashing;
}

/** An A1111 `Lora hashes` / `TI hashes` value: `name: hash, name: hash`. */
export function parseNamedHashes(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (text ?? '').split(',')) {
    const at = part.lastIndexOf(':');
    if (at <= 0) continue;
    const name = part.slice(0, at).trim();
    const hash = part.slice(at + 1).trim().toLowerCase();
    if (name && /^[0-9a-f]{8,64}$/.test(hash)) out[name] = hash;
  }
  return out;
}

/** The value A1111 writes for `Lora hashes` / `TI hashes`. */
export function formatNamedHashes(files: readonly { name: string; shortHash: string }[]): string | undefined {
  return files.length ? files.map((f) => `${f.name}: ${f.shortHash}`).join(', ') : undefined;
}

/**
 * The library file of `kind` an image names: at the path its request gave, else by hash when the image has one (a
 * short hash matches the start of the SHA-256, as A1111 compares them), else by name. Undefined when none finds it.
 */
export function findInLibrary(entries: readonly LibraryEntry[], kind: LibraryKind, want: { path?: string; name?: string; hash?: string }): LibraryEntry | undefined {
  const mine = entries.filter((e) => e.kind === kind && !e.problem);
  const atPath = want.path === undefined ? undefined : mine.find((e) => e.path === want.path);
  if (atPath) return atPath;
  const hash = want.hash?.toLowerCase();
  if (hash) return mine.find((e) => (e.sha256 ?? e.shortHash)?.startsWith(hash) || (e.shortHash !== undefined && hash.startsWith(e.shortHash)));
  const name = want.name?.toLowerCase();
  return name === undefined ? undefined : mine.find((e) => e.name.toLowerCase() === name);
}

const TAG = /<(?:lora|lyco):([^:>]+)(?::([^:>]*))?(?::[^>]*)?>/gi;

/** Removes A1111's `<lora:NAME:WEIGHT>` (and LyCORIS's `<lyco:…>`) tags from a prompt; the weight defaults to 1. */
export function extractLoraTags(prompt: string): { prompt: string; loras: LoraRef[] } {
  const loras: LoraRef[] = [];
  const text = prompt.replace(TAG, (_, name: string, weight: string | undefined) => {
    const w = weight === undefined || weight.trim() === '' ? 1 : Number(weight);
    if (!Number.isFinite(w)) throw new Error(`prompt tag <lora:${name}:${weight}>: the weight "${weight}" is not a number; write e.g. <lora:${name}:0.8>`);
    loras.push({ name: name.trim(), weight: w });
    return '';
  });
  return { prompt: text.replace(/\s{2,}/g, ' ').replace(/\s+,/g, ',').trim(), loras };
}

/** What an image's metadata says it was made with: names and, where it recorded them, hashes. */
export const ImageFilesSchema = z.object({
  model: z.object({ name: z.string().optional(), hash: z.string().optional() }).optional(),
  loras: z.array(z.object({ name: z.string(), weight: z.number(), hash: z.string().optional() })),
  embeddings: z.array(z.object({ name: z.string(), hash: z.string().optional() })),
});
export type ImageFiles = z.infer<typeof ImageFilesSchema>;

/** Those files found in the library; `missing` names each one that is not there, in words. */
export interface FoundFiles {
  model?: LibraryEntry;
  loras: { entry: LibraryEntry; weight: number }[];
  embeddings: LibraryEntry[];
  missing: string[];
  /** Found, but something to know (an embedding stored under another name than the prompt's word). */
  notes: string[];
}

function describeWant(what: string, want: { name?: string; hash?: string }): string {
  return `${what} ${want.name ? `"${want.name}"` : ''}${want.hash ? ` (hash ${want.hash})` : ''}`.replace(/\s+/g, ' ').trim();
}

/** A file of the same name with another hash is another version: say so rather than use it. */
function missing(entries: readonly LibraryEntry[], kind: LibraryKind, what: string, want: { name?: string; hash?: string }): string {
  const sameName = want.hash && want.name ? findInLibrary(entries, kind, { name: want.name }) : undefined;
  const other = sameName ? `; ${sameName.relativePath} has that name but hash ${sameName.shortHash ?? 'unknown'} (another version)` : '';
  return `${describeWant(what, want)} is not in the library${other}`;
}

/** Finds an image's model, LoRAs and embeddings in the library, by hash where the image recorded one. */
export function findImageFiles(files: ImageFiles, entries: readonly LibraryEntry[]): FoundFiles {
  const found: FoundFiles = { loras: [], embeddings: [], missing: [], notes: [] };
  if (files.model && (files.model.hash || files.model.name)) {
    found.model = findInLibrary(entries, 'checkpoint', files.model);
    if (!found.model) found.missing.push(missing(entries, 'checkpoint', 'model', files.model));
  }
  for (const lora of files.loras) {
    const entry = findInLibrary(entries, 'lora', lora);
    if (entry) found.loras.push({ entry, weight: lora.weight });
    else found.missing.push(missing(entries, 'lora', 'LoRA', lora));
  }
  for (const embedding of files.embeddings) {
    const entry = findInLibrary(entries, 'embedding', embedding);
    if (!entry) found.missing.push(missing(entries, 'embedding', 'embedding', embedding));
    else {
      found.embeddings.push(entry);
      if (entry.name.toLowerCase() !== embedding.name.toLowerCase()) found.notes.push(`embedding "${embedding.name}" is ${entry.relativePath} in the library: the prompt word "${embedding.name}" calls a file of that name, so rename the file to ${embedding.name} to use it`);
    }
  }
  return found;
}

/**
 * The files an A1111 infotext names: `Model`/`Model hash`, the prompt's `<lora:…>` tags with `Lora hashes`
 * (keyed by the tag's name), and `TI hashes`.
 */
export function a1111ImageFiles(s: { prompt?: string; model?: string; modelHash?: string; params?: Record<string, string> }): ImageFiles {
  const loraHashes = parseNamedHashes(s.params?.['Lora hashes']);
  const tiHashes = parseNamedHashes(s.params?.['TI hashes']);
  let tags: LoraRef[] = [];
  try {
    tags = extractLoraTags(s.prompt ?? '').loras;
  } catch {
    // A tag with an unreadable weight restores nothing; the prompt keeps it as text.
  }
  return {
    ...(s.model || s.modelHash ? { model: { name: s.model, hash: s.modelHash } } : {}),
    loras: tags.map((t) => ({ ...t, ...(loraHashes[t.name] ? { hash: loraHashes[t.name] } : {}) })),
    embeddings: Object.entries(tiHashes).map(([name, hash]) => ({ name, hash })),
  };
}
