// Style presets as A1111 (styles.csv) and Fooocus (sdxl_styles/*.json) write them, and how a style
// is applied to a prompt: a `{prompt}` placeholder is replaced by the prompt, otherwise the style is
// appended after ", ". The negative prompt is combined the same way.
import { parseCsv } from './csv.ts';

export interface StyleText {
  name: string;
  prompt: string;
  negative: string;
}

export class StyleFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StyleFileError';
  }
}

export function applyStyleText(style: string, text: string): string {
  if (style.includes('{prompt}')) return style.replaceAll('{prompt}', text);
  if (!text) return style;
  if (!style) return text;
  return `${text}, ${style}`;
}

/** The prompt and negative prompt with one style applied. */
export function applyStyle(style: StyleText, prompt: string, negative: string): { prompt: string; negative: string } {
  return { prompt: applyStyleText(style.prompt, prompt), negative: applyStyleText(style.negative, negative) };
}

/**
 * A1111's styles.csv: header `name,prompt,negative_prompt` (or the legacy `name,text`); rows whose
 * name starts with `#` are comments. A name given twice keeps its last row, as A1111 does (with a warning).
 */
export function parseStylesCsv(text: string, source: string): { styles: StyleText[]; warnings: string[] } {
  const [header, ...rows] = parseCsv(text, source);
  if (!header) return { styles: [], warnings: [`${source}: the file is empty`] };
  const col = (name: string) => header.cells.findIndex((c) => c.trim().toLowerCase() === name);
  const name = col('name');
  const prompt = col('prompt') >= 0 ? col('prompt') : col('text');
  const negative = col('negative_prompt');
  if (name < 0 || prompt < 0) {
    throw new StyleFileError(`${source}:${header.line}: the header must be "name,prompt,negative_prompt" (A1111's styles.csv), got "${header.cells.join(',')}"`);
  }
  const byName = new Map<string, StyleText>();
  const warnings: string[] = [];
  for (const row of rows) {
    const n = (row.cells[name] ?? '').trim();
    if (n.startsWith('#')) continue;
    if (!n) {
      warnings.push(`${source}:${row.line}: a row without a name, skipped`);
      continue;
    }
    if (byName.has(n)) warnings.push(`${source}:${row.line}: style "${n}" is given again; this row replaces the earlier one`);
    byName.set(n, { name: n, prompt: row.cells[prompt] ?? '', negative: negative >= 0 ? (row.cells[negative] ?? '') : '' });
  }
  return { styles: [...byName.values()], warnings };
}

/** Fooocus' style files: a JSON array of `{name, prompt, negative_prompt}`. */
export function parseFooocusStyles(data: unknown, source: string): StyleText[] {
  if (!Array.isArray(data)) throw new StyleFileError(`${source}: expected a JSON array of {name, prompt, negative_prompt}`);
  return data.map((entry, i) => {
    const e = entry as Record<string, unknown> | null;
    if (typeof e !== 'object' || e === null || typeof e.name !== 'string' || !e.name.trim()) {
      throw new StyleFileError(`${source}: entry [${i}] needs a "name" string`);
    }
    for (const key of ['prompt', 'negative_prompt'] as const) {
      if (e[key] !== undefined && typeof e[key] !== 'string') throw new StyleFileError(`${source}: entry [${i}] ("${e.name}"): "${key}" must be a string`);
    }
    const unknown = Object.keys(e).filter((k) => k !== 'name' && k !== 'prompt' && k !== 'negative_prompt');
    if (unknown.length) throw new StyleFileError(`${source}: entry [${i}] ("${e.name}"): unknown field ${unknown.map((k) => `"${k}"`).join(', ')}`);
    return { name: e.name.trim(), prompt: (e.prompt as string | undefined) ?? '', negative: (e.negative_prompt as string | undefined) ?? '' };
  });
}
