// bench/run.ts, the entry of `npm run bench`: every bench in bench/ is listed with the first sentence
// of its opening comment, and a name that is no bench is refused with the list.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { listBenches, summaryOf } from '../bench/run.ts';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');
const RUN = ['--import', 'tsx', join(ROOT, 'bench', 'run.ts')];

test('the summary is the first sentence of the opening comment, cut at a word', () => {
  assert.equal(summaryOf('// Time per step. Then more.\n// And more.\nimport x;'), 'Time per step.');
  assert.equal(summaryOf('// Time per step of the UNet\n// at every size.\n\n// later'), 'Time per step of the UNet at every size.');
  assert.equal(summaryOf('#!/bin/sh\n'), '');
  assert.equal(summaryOf(`// ${'word '.repeat(40)}`, 22), 'word word word word …');
});

test('--list names every bench in bench/ but the runner, each with its summary', async () => {
  const files = readdirSync(join(ROOT, 'bench')).filter((f) => f.endsWith('.ts') && f !== 'run.ts');
  assert.deepEqual(listBenches().map((b) => `${b.name}.ts`), files.sort());
  const { stdout } = await run(process.execPath, [...RUN, '--list'], { cwd: ROOT });
  const lines = stdout.trim().split('\n');
  assert.equal(lines.length, files.length);
  for (const b of listBenches()) {
    assert.ok(b.summary.length > 10, `${b.name}: no opening comment to describe it`);
    assert.ok(lines.some((l) => l.startsWith(b.name) && l.includes(b.summary)), `${b.name} is not listed`);
  }
});

test('an unknown bench name exits 2 and lists the benches', async () => {
  await assert.rejects(run(process.execPath, [...RUN, 'guidance', 'nope'], { cwd: ROOT }), (e: { code: number; stderr: string }) => {
    assert.equal(e.code, 2);
    assert.match(e.stderr, /no bench named "nope"; the benches are: .*guidance/);
    return true;
  });
});
