// A batch file as rows of `studio generate` options. Three forms:
//   .txt    one prompt per line (blank lines and lines starting with # are skipped); a line that
//           starts with -- holds options instead: --prompt "a cat" --steps 30
//   .csv    a header of option names (prompt, negative, seed, cfg, steps, sampler, …), one row per job
//   .jsonl  one JSON object per line with option names as keys
// Option names may be written as on the command line (clip-skip), in camelCase (clipSkip) or
// snake_case (clip_skip); A1111's negative_prompt means negative. An empty cell or null keeps the default.
import { extname } from 'node:path';
import { parseCsv } from '../../plugins/csv.ts';

export interface BatchRow {
  /** 1-based line of the file where the row starts. */
  line: number;
  /** Option name (as on the command line, without --) → its text. */
  options: Record<string, string>;
}

export class BatchFileError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.length > 20 ? [...problems.slice(0, 20), `… and ${problems.length - 20} more problems`].join('\n') : problems.join('\n'));
    this.name = 'BatchFileError';
  }
}

/** Options a row may not set: where and how the batch writes is the batch's. */
const BATCH_ONLY: Record<string, string> = {
  out: 'the batch writes every image to its --out folder',
  json: 'give --json to the batch command',
  progress: 'give --progress to the batch command',
  help: 'not an option for a row',
};

const ALIASES: Record<string, string> = { 'negative-prompt': 'negative', 'cfg-scale': 'cfg', 'sampler-name': 'sampler' };

export function optionName(key: string): string {
  const kebab = key
    .trim()
    .replace(/^--/, '')
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/_/g, '-')
    .toLowerCase();
  return ALIASES[kebab] ?? kebab;
}

/** Splits an options line as a shell would: spaces separate words, quotes group them, \ escapes. */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && (line[i + 1] === '"' || line[i + 1] === '\\')) word += line[++i];
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      word ??= '';
    } else if (c === '\\' && i + 1 < line.length) {
      word = (word ?? '') + line[++i];
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (quote) throw new Error(`a ${quote} quote is not closed`);
  if (word !== undefined) words.push(word);
  return words;
}

function optionsFromWords(words: string[]): Record<string, string> {
  const options: Record<string, string> = {};
  for (let i = 0; i < words.length; i++) {
    const m = /^--([^=]+)(?:=(.*))?$/.exec(words[i]);
    if (!m) throw new Error(`expected an option such as --prompt, got ${JSON.stringify(words[i])} (put the prompt in quotes)`);
    const value = m[2] ?? words[++i];
    if (value === undefined) throw new Error(`--${m[1]} needs a value`);
    options[m[1]] = value;
  }
  return options;
}

function readTxt(text: string, source: string, problems: string[]): BatchRow[] {
  const rows: BatchRow[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    try {
      rows.push({ line: i + 1, options: line.startsWith('--') ? optionsFromWords(splitWords(line)) : { prompt: line } });
    } catch (e) {
      problems.push(`${source}:${i + 1}: ${(e as Error).message}`);
    }
  });
  return rows;
}

function readCsv(text: string, source: string): BatchRow[] {
  const [header, ...rows] = parseCsv(text, source);
  if (!header) return [];
  const names = header.cells.map((c) => c.trim());
  return rows.map((row) => {
    const options: Record<string, string> = {};
    row.cells.forEach((cell, c) => {
      if (cell.trim() !== '') options[names[c] ?? `column ${c + 1}`] = cell;
    });
    return { line: row.line, options };
  });
}

function readJsonl(text: string, source: string, problems: string[]): BatchRow[] {
  const rows: BatchRow[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    if (!raw.trim()) return;
    const where = `${source}:${i + 1}`;
    let data: unknown;
    try {
      data = JSON.parse(raw);
    } catch (e) {
      problems.push(`${where}: not valid JSON (${(e as Error).message})`);
      return;
    }
    if (typeof data !== 'object' || data === null || Array.isArray(data)) {
      problems.push(`${where}: expected a JSON object of generate options, such as {"prompt": "a cat", "seed": 1}`);
      return;
    }
    const options: Record<string, string> = {};
    for (const [key, value] of Object.entries(data)) {
      if (value === null) continue;
      if (Array.isArray(value) && value.every((v) => typeof v === 'string')) options[key] = value.join(',');
      else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') options[key] = String(value);
      else problems.push(`${where}: "${key}" must be a string or a number`);
    }
    rows.push({ line: i + 1, options });
  });
  return rows;
}

/**
 * The file's rows with option names normalised and checked against `known` (generate's options).
 * Every problem is collected, with file:line, and thrown together.
 */
export function readBatchRows(text: string, source: string, known: ReadonlySet<string>): BatchRow[] {
  const problems: string[] = [];
  const ext = extname(source).toLowerCase();
  let rows: BatchRow[];
  if (ext === '.txt' || ext === '') rows = readTxt(text, source, problems);
  else if (ext === '.csv') {
    try {
      rows = readCsv(text, source);
    } catch (e) {
      throw new BatchFileError([(e as Error).message]);
    }
  }
  else if (ext === '.jsonl' || ext === '.ndjson') rows = readJsonl(text, source, problems);
  else throw new BatchFileError([`${source}: expected a .txt (one prompt per line), .csv or .jsonl file`]);

  const checked = rows.map((row) => {
    const options: Record<string, string> = {};
    for (const [key, value] of Object.entries(row.options)) {
      const name = optionName(key);
      if (BATCH_ONLY[name]) problems.push(`${source}:${row.line}: "${key}" cannot be set per row (${BATCH_ONLY[name]})`);
      else if (!known.has(name)) problems.push(`${source}:${row.line}: "${key}" is not a generate option (options: ${[...known].sort().join(', ')})`);
      else options[name] = value;
    }
    return { line: row.line, options };
  });
  if (problems.length) throw new BatchFileError(problems);
  if (!checked.length) throw new BatchFileError([`${source}: no rows (nothing to generate)`]);
  return checked;
}
