// `npm run bench`: lists the benches in bench/ (one line each, from the comment that opens each file)
// and runs the ones named, one after another, each in its own process.
//
//   npm run bench -- --list                       the benches
//   npm run bench -- guidance story               run these two with their defaults
//   npm run bench -- guidance -- --size 128       arguments after a second `--` go to every bench named
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const BENCH_DIR = import.meta.dirname;

export interface Bench {
  name: string;
  file: string;
  summary: string;
}

/** The first sentence of the `//` comment block that opens a file, on one line of at most `max` characters. */
export function summaryOf(source: string, max = 110): string {
  const lines: string[] = [];
  for (const line of source.split('\n')) {
    const m = /^\/\/ ?(.*)$/.exec(line.trim());
    if (!m || m[1].trim() === '') break;
    lines.push(m[1].trim());
  }
  const text = lines.join(' ');
  const end = text.search(/\.(\s|$)/);
  const sentence = end < 0 ? text : text.slice(0, end + 1);
  if (sentence.length <= max) return sentence;
  return `${sentence.slice(0, sentence.lastIndexOf(' ', max - 1))} …`;
}

export function listBenches(dir = BENCH_DIR): Bench[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && f !== 'run.ts')
    .sort()
    .map((f) => ({ name: f.slice(0, -3), file: join(dir, f), summary: summaryOf(readFileSync(join(dir, f), 'utf8')) }));
}

function printList(benches: Bench[]): void {
  const width = Math.max(...benches.map((b) => b.name.length));
  for (const b of benches) process.stdout.write(`${b.name.padEnd(width)}  ${b.summary || '(no opening comment)'}\n`);
}

function main(argv: string[]): number {
  const split = argv.indexOf('--');
  const names = split < 0 ? argv : argv.slice(0, split);
  const passOn = split < 0 ? [] : argv.slice(split + 1);
  const benches = listBenches();
  if (names.length === 0 || names.includes('--list') || names.includes('-h') || names.includes('--help')) {
    printList(benches);
    if (names.length === 0) process.stdout.write('\nRun one: npm run bench -- NAME [NAME…] [-- ARGS for each]\n');
    return 0;
  }
  const unknown = names.filter((n) => !benches.some((b) => b.name === n));
  if (unknown.length) {
    process.stderr.write(`no bench named ${unknown.map((n) => `"${n}"`).join(', ')}; the benches are: ${benches.map((b) => b.name).join(', ')}\n`);
    return 2;
  }
  for (const name of names) {
    const bench = benches.find((b) => b.name === name)!;
    process.stdout.write(`== ${name}: ${bench.summary}\n`);
    const r = spawnSync(process.execPath, ['--import', 'tsx', bench.file, ...passOn], { stdio: 'inherit' });
    if (r.status !== 0) {
      process.stderr.write(`bench ${name} failed (exit ${r.status ?? r.signal})\n`);
      return r.status ?? 1;
    }
  }
  return 0;
}

if (process.argv[1] === import.meta.filename) process.exitCode = main(process.argv.slice(2));
