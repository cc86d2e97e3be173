// From rows (and sweep axes) to the batch's jobs, each with a fully decided request, an id that is a
// hash of that request, and the file names it will write. Nothing here is random: the same file and
// options give the same jobs, ids and names on every run, which is what makes a batch resumable.
// A row without a seed gets one derived from its settings, so a rerun draws the same images.
import { createHash } from 'node:crypto';
import type { HeadPreset } from '../../heads/presets.ts';
import { withHeadPreset } from '../../plugins/apply.ts';
import { GenerateRequestSchema, type GenerateRequest } from '../api.ts';
import { axisLabel, type Axis } from './axes.ts';
import { BatchFileError, type BatchRow } from './rows.ts';

export interface PlannedJob {
  /** SHA-256 (hex) of the request, plus its occurrence number when the same request is asked twice. */
  id: string;
  /** 1-based position in the batch. */
  index: number;
  /** The file line of its row. */
  line: number;
  request: GenerateRequest;
  /** One file name per image of the request's batch. */
  files: string[];
  /** Its place on the row's contact sheet, when sweeping. */
  cell?: { col: number; row: number; labels: string[] };
}

export interface PlannedSheet {
  name: string;
  line: number;
  prompt: string;
  cols: string[];
  rows: string[];
  /** Row-major: rows.length × cols.length jobs. */
  jobs: PlannedJob[];
}

export interface BatchPlan {
  jobs: PlannedJob[];
  sheets: PlannedSheet[];
}

export interface PlanOptions {
  /** The batch file's name, for messages (rows of line 0 come from the command line). */
  source: string;
  /** Generate options given on the command line: every row starts from them. */
  defaults: Record<string, string>;
  x?: Axis;
  y?: Axis;
  /** Option texts → a validated request (generate's own parser); rejects with a message naming the option. */
  parse: (options: Record<string, string>) => Promise<GenerateRequest>;
  /** A head preset by name (for a `heads` axis); throws when there is none. */
  headPreset: (name: string) => HeadPreset;
}

/** JSON with object keys sorted, so equal requests hash equally. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    return `{${entries
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** Counts how often each key was seen: 0 the first time. */
class Occurrences {
  private readonly seen = new Map<string, number>();
  next(key: string): number {
    const n = this.seen.get(key) ?? 0;
    this.seen.set(key, n + 1);
    return n;
  }
}

/** A seed in A1111's usual range, from the row's settings (without a seed) and its repeat number. */
function derivedSeed(key: string, occurrence: number): number {
  return parseInt(sha256(`studio-batch-seed\n${key}\n${occurrence}`).slice(0, 8), 16);
}

function hasSeed(options: Record<string, string>): boolean {
  return options.seed !== undefined && options.seed.trim() !== '-1';
}

async function cellRequest(base: Record<string, string>, cell: Array<[Axis, string]>, o: PlanOptions): Promise<GenerateRequest> {
  const options = { ...base };
  const heads: string[] = [];
  for (const [axis, value] of cell) {
    if (axis.name === 'heads') heads.push(value);
    else options[axis.name] = value;
  }
  let request = await o.parse(options);
  for (const name of heads) if (name !== 'none') request = withHeadPreset(request, o.headPreset(name));
  return heads.length ? GenerateRequestSchema.parse(request) : request;
}

export function fileNames(index: number, request: GenerateRequest, id: string): string[] {
  const stem = `${String(index).padStart(5, '0')}-${request.seed}-${id.slice(0, 8)}`;
  return request.batch === 1 ? [`${stem}.png`] : Array.from({ length: request.batch }, (_, b) => `${stem}-${b}.png`);
}

export async function planBatch(rows: readonly BatchRow[], o: PlanOptions): Promise<BatchPlan> {
  const problems: string[] = [];
  const seeds = new Occurrences();
  const ids = new Occurrences();
  const jobs: PlannedJob[] = [];
  const sheets: PlannedSheet[] = [];
  const xs = o.x?.values ?? [undefined];
  const ys = o.y?.values ?? [undefined];
  const sweeping = o.x !== undefined || o.y !== undefined;

  for (const row of rows) {
    const where = row.line ? `${o.source}:${row.line}` : o.source;
    const options = { ...o.defaults, ...row.options };
    try {
      if (!hasSeed(options)) {
        const key = canonicalJson({ ...(await o.parse({ ...options, seed: '0' })), seed: undefined });
        options.seed = String(derivedSeed(key, seeds.next(key)));
      }
    } catch (e) {
      problems.push(...(e as Error).message.split('\n').map((m) => `${where}: ${m}`));
      continue;
    }
    const rowJobs: PlannedJob[] = [];
    for (const [r, y] of ys.entries()) {
      for (const [c, x] of xs.entries()) {
        const cell: Array<[Axis, string]> = [];
        if (o.x && x !== undefined) cell.push([o.x, x]);
        if (o.y && y !== undefined) cell.push([o.y, y]);
        const labels = cell.map(([axis, v]) => axisLabel(axis, v));
        let request: GenerateRequest;
        try {
          request = await cellRequest(options, cell, o);
        } catch (e) {
          const at = labels.length ? `${where} (${labels.join(', ')})` : where;
          problems.push(...(e as Error).message.split('\n').map((m) => `${at}: ${m}`));
          continue;
        }
        const canonical = canonicalJson(request);
        const repeat = ids.next(canonical);
        const id = sha256(repeat ? `${canonical}\n#${repeat}` : canonical);
        const index = jobs.length + 1;
        const job: PlannedJob = { id, index, line: row.line, request, files: fileNames(index, request, id), ...(sweeping ? { cell: { col: c, row: r, labels } } : {}) };
        jobs.push(job);
        rowJobs.push(job);
      }
    }
    if (sweeping && rowJobs.length === xs.length * ys.length) {
      const hash = sha256(rowJobs.map((j) => j.id).join('\n')).slice(0, 8);
      sheets.push({
        name: `grid-${String(sheets.length + 1).padStart(4, '0')}-${hash}.png`,
        line: row.line,
        prompt: rowJobs[0].request.prompt,
        cols: o.x ? o.x.values.map((v) => axisLabel(o.x!, v)) : [''],
        rows: o.y ? o.y.values.map((v) => axisLabel(o.y!, v)) : [''],
        jobs: rowJobs,
      });
    }
  }
  if (problems.length) throw new BatchFileError(problems);
  return { jobs, sheets };
}
