// `npm run fuzz`: every target for N inputs (default 1,000,000), each in its own process, then a table
// (parser | inputs tried | crashes | hangs | worst ms per input | worst memory). `--write` puts the table
// into docs/reliability.md; findings go to fuzz/findings/ (ignored by git) to replay.
//   npm run fuzz -- --inputs 100000 --target prompt --write
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { CampaignStats } from './engine.ts';
import { TARGETS } from './targets.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const { values } = parseArgs({
  options: {
    inputs: { type: 'string', default: '1000000' },
    target: { type: 'string' },
    seed: { type: 'string', default: '1' },
    'hang-ms': { type: 'string', default: '2000' },
    /** Per target: stop after this many seconds even before --inputs (the table says how many ran). */
    seconds: { type: 'string' },
    /** A campaign that prints nothing for this long is stuck: it is killed and counted as a hang. */
    'stall-s': { type: 'string', default: '120' },
    write: { type: 'boolean', default: false },
  },
});

type Row = CampaignStats & { maxRssMiB: number; died?: string; seconds: number };

function campaign(name: string): Promise<Row> {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'fuzz/campaign-child.ts'), name, values.inputs!, values.seed!, values['hang-ms']!, values.seconds ?? ''], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let result: Row | undefined;
    let done = 0;
    let stall = setTimeout(() => child.kill('SIGKILL'), Number(values['stall-s']) * 1000);
    let buffered = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line.startsWith('progress ')) {
          done = Number(line.slice(9));
          clearTimeout(stall);
          stall = setTimeout(() => child.kill('SIGKILL'), Number(values['stall-s']) * 1000);
          process.stderr.write(`\r${name}: ${done} inputs`);
        } else if (line.startsWith('result ')) result = JSON.parse(line.slice(7));
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(stall);
      process.stderr.write('\n');
      const seconds = (Date.now() - started) / 1000;
      if (result && code === 0) return resolve({ ...result, seconds });
      const died = signal === 'SIGKILL' ? 'stalled (killed)' : `exited with ${signal ?? code}`;
      resolve({ target: name, inputs: done, crashes: signal === 'SIGKILL' ? 0 : 1, hangs: signal === 'SIGKILL' ? 1 : 0, worstMs: NaN, worstLength: 0, findings: [], maxRssMiB: NaN, died, seconds });
    });
  });
}

function table(rows: Row[]): string {
  const lines = ['| parser | inputs tried | crashes | hangs | worst ms per input | worst memory |', '|---|---:|---:|---:|---:|---:|'];
  for (const r of rows) {
    const worst = Number.isNaN(r.worstMs) ? r.died ?? '?' : `${r.worstMs.toFixed(1)} (input of ${r.worstLength.toLocaleString('en')})`;
    lines.push(`| ${r.target} | ${r.inputs.toLocaleString('en')} | ${r.crashes} | ${r.hangs} | ${worst} | ${Number.isNaN(r.maxRssMiB) ? '?' : `${r.maxRssMiB.toFixed(0)} MiB RSS`} |`);
  }
  return lines.join('\n');
}

/** `--target` picks targets whose names contain any of its comma-separated words. */
const wanted = values.target?.toLowerCase().split(',') ?? [];
const chosen = TARGETS.filter((t) => !wanted.length || wanted.some((w) => t.name.toLowerCase().includes(w)));
const rows: Row[] = [];
for (const t of chosen) rows.push(await campaign(t.name));
const text = table(rows);
process.stdout.write(`${text}\n`);

const findings = rows.flatMap((r) => r.findings.map((f) => ({ target: r.target, ...f })));
if (findings.length) {
  mkdirSync(join(ROOT, 'fuzz/findings'), { recursive: true });
  const file = join(ROOT, `fuzz/findings/${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(findings, null, 2));
  process.stdout.write(`${findings.length} findings written to ${file}\n`);
}
if (values.write) {
  const doc = join(ROOT, 'docs/reliability.md');
  const start = '<!-- fuzz-table -->';
  const end = '<!-- /fuzz-table -->';
  const old = readFileSync(doc, 'utf8');
  const stamp = `Run: \`npm run fuzz -- --inputs ${values.inputs} --seed ${values.seed}${values.seconds ? ` --seconds ${values.seconds}` : ''}\`, ${new Date().toISOString().slice(0, 10)}, ${rows.reduce((n, r) => n + r.seconds, 0).toFixed(0)} s on this project's 2-core CI machine.`;
  writeFileSync(doc, old.replace(new RegExp(`${start}[\\s\\S]*${end}`), `${start}\n${stamp}\n\n${text}\n${end}`));
}
process.exitCode = rows.some((r) => r.crashes || r.hangs) ? 1 : 0;
