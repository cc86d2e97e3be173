// A file an image's request names by path, found in the library: at that path, else by its name (a library
// that moved, or an image that records only the name).
import { findInLibrary, type LibraryEntry } from '../../pipelines/jobs/api.ts';

export const fileName = (path: string) => path.slice(Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\')) + 1);
/** The file name without a weights file's extension: a library entry's `name` (`sdxl_vae.fp16` keeps its dot). */
export const stem = (path: string) => fileName(path).replace(/\.(safetensors|ckpt|pt|pth|bin|gguf)$/i, '');

export function libraryFile(library: readonly LibraryEntry[], kind: LibraryEntry['kind'], ref: string): LibraryEntry | undefined {
  return findInLibrary(library, kind, { path: ref, name: stem(ref) });
}
