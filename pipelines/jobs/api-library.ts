// The model library as `studio models` and the studio show it: every checkpoint, LoRA, embedding, VAE,
// ControlNet and upscaler in a models folder laid out as A1111's or ComfyUI's, with its family and
// A1111's short hash, and how an image's metadata finds its files in it (by hash, not by path).
// Data only, so the renderer may import it.
import { z } from 'zod';

export const LIBRARY_KINDS = ['checkpoint', 'lora', 'embedding', 'vae', 'controlnet', 'upscaler'] as const;
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
  /** SHA-256 of the whole file (asked for with `hashes`). */
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
 * The library file of `kind` an image names: by hash when the image has one (a short hash matches the
 * start of the SHA-256, as A1111 compares them), else by name. Undefined when neither finds it.
 */
export function findInLibrary(entries: readonly LibraryEntry[], kind: LibraryKind, want: { name?: string; hash?: string }): LibraryEntry | undefined {
  const mine = entries.filter((e) => e.kind === kind && !e.problem);
  const hash = want.hash?.toLowerCase();
  if (hash) return mine.find((e) => (e.sha256 ?? e.shortHash)?.startsWith(hash) || (e.shortHash !== undefined && hash.startsWith(e.shortHash)));
  const name = want.name?.toLowerCase();
  return name === undefined ? undefined : mine.find((e) => e.name.toLowerCase() === name);
}
