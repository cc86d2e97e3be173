// Textual-inversion embeddings as A1111 uses them: a file in the embeddings folder whose stem appears
// as a word of the prompt (or negative) puts its vectors where the word was. Files: A1111 `.pt`
// (`string_to_param['*']`, read by the weights-only loader, so a pickle with code is refused) and
// `.safetensors` (`emb_params`, or SDXL's `clip_l` / `clip_g`, one set of vectors per text encoder).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { SafetensorsFile } from '../io/safetensors.ts';
import { TorchPtFile } from '../io/torch-pt.ts';
import type { TensorFile } from '../io/tensor-file.ts';
import type { ClipTokenizer } from './clip-tokenizer.ts';
import type { TokenReplacement } from './prompt-weights.ts';

export interface TextualInversion {
  /** The file's stem: the word that calls it. */
  name: string;
  path: string;
  /** Per text encoder (pipeline order): [vectors, width] row-major, or undefined when it has none for it. */
  vectors: (Float32Array | undefined)[];
  count: number;
}

export class EmbeddingError extends Error {
  constructor(readonly file: string, message: string) {
    super(`embedding ${file}: ${message}`);
    this.name = 'EmbeddingError';
  }
}

const EXTENSIONS = /\.(pt|safetensors)$/i;

function filesUnder(dir: string, depth = 2): string[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = join(dir, d.name);
    if (d.isDirectory()) return depth > 0 ? filesUnder(p, depth - 1) : [];
    return EXTENSIONS.test(d.name) ? [p] : [];
  });
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The embedding files of `dir` whose names appear as words in any of `texts` (case-insensitive, as tokens are). */
export function embeddingsUsed(dir: string, texts: readonly string[]): string[] {
  const all = filesUnder(dir);
  return all.filter((f) => {
    const word = new RegExp(`(?<![\\p{L}\\p{N}_])${escape(basename(f).replace(EXTENSIONS, ''))}(?![\\p{L}\\p{N}_])`, 'iu');
    return texts.some((t) => word.test(t));
  });
}

/** Reads one embedding for text encoders of the given widths (pipeline order). */
export function readEmbedding(path: string, widths: readonly number[]): TextualInversion {
  const name = basename(path).replace(EXTENSIONS, '');
  let file: TensorFile;
  try {
    file = /\.pt$/i.test(path) ? TorchPtFile.open(path) : SafetensorsFile.open(path);
  } catch (e) {
    throw new EmbeddingError(path, `cannot be read (${(e as Error).message}); nothing from it was run`);
  }
  const perEncoder: (string | undefined)[] =
    widths.length === 2 ? [file.has('clip_l') ? 'clip_l' : undefined, file.has('clip_g') ? 'clip_g' : undefined] : [['emb_params', '*'].find((k) => file.has(k)) ?? (file.keys().length === 1 ? file.keys()[0] : undefined)];
  if (perEncoder.every((k) => k === undefined)) {
    const want = widths.length === 2 ? 'clip_l and clip_g (an SDXL embedding)' : 'emb_params or string_to_param (an SD 1.x/2.x embedding)';
    throw new EmbeddingError(path, `has no ${want}; its tensors: ${file.keys().slice(0, 4).join(', ')}. Use an embedding made for this model family`);
  }
  let count = 0;
  const vectors = perEncoder.map((key, i) => {
    if (key === undefined) return undefined;
    const shape = file.info(key).shape;
    const rows = shape.length === 1 ? 1 : shape[0];
    const width = shape[shape.length - 1];
    if (width !== widths[i]) {
      throw new EmbeddingError(path, `holds vectors of width ${width} but text encoder ${i + 1} takes ${widths[i]}: it was made for another model family`);
    }
    if (count && rows !== count) throw new EmbeddingError(path, `has ${count} vectors for one text encoder and ${rows} for another`);
    count = rows;
    return file.readFloat32(key);
  });
  return { name, path, vectors, count };
}

/**
 * Text encoder `index`'s share of the embeddings: their vectors as rows after the vocabulary (ids
 * `vocabSize`, `vocabSize + 1`, …) and the token sequences of their names to replace by those ids.
 */
export function embeddingTokens(embeddings: readonly TextualInversion[], index: number, vocabSize: number, tokenizer: ClipTokenizer): { rows?: Float32Array; replace: TokenReplacement[] } {
  const mine = embeddings.filter((e) => e.vectors[index]);
  if (!mine.length) return { replace: [] };
  const rows = new Float32Array(mine.reduce((a, e) => a + e.vectors[index]!.length, 0));
  const replace: TokenReplacement[] = [];
  let next = vocabSize;
  let offset = 0;
  for (const e of mine) {
    rows.set(e.vectors[index]!, offset);
    offset += e.vectors[index]!.length;
    replace.push({ ids: tokenizer.encode(e.name), by: Array.from({ length: e.count }, (_, k) => next + k) });
    next += e.count;
  }
  return { rows, replace };
}
