// Regression tests for the CLI findings of issue 17, with the real engine and the embedded models: a
// long prompt (it crashed with SIGSEGV), prompts over the cap, a method that does not apply, an
// unavailable provider, and an output folder that cannot be written (found before any model loads).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { MAX_PROMPT_CHARS } from '../pipelines/jobs/api-limits.ts';
import { ROOT } from './e2e-harness.ts';

const STUDIO = join(ROOT, 'app', 'cli', 'studio.js');
const work = mkdtempSync(join(tmpdir(), 'studio-reliability-cli-'));
after(() => rmSync(work, { recursive: true, force: true }));

function studio(args: string[]): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  const env = { ...process.env };
  delete env.STUDIO_TEST_ENGINE;
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [STUDIO, ...args], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', fail);
    child.on('close', (code, signal) => done({ code, signal, stdout, stderr }));
  });
}

describe('studio generate with the real engine', { timeout: 540_000 }, () => {
  test('a 15,000-character prompt on the command line draws its image (it crashed with SIGSEGV)', async () => {
    const out = join(work, 'long.png');
    const r = await studio(['generate', '--prompt', `a smiling cat face ${'cat '.repeat(3745)}`, '--out', out]);
    assert.equal(r.signal, null, r.stderr);
    assert.equal(r.code, 0, r.stderr.slice(0, 500));
    assert.ok(existsSync(out));
  });

  test('a prompt over the cap is refused with the cap and what to do, before any model loads', async () => {
    const r = await studio(['generate', '--prompt', 'a'.repeat(MAX_PROMPT_CHARS + 1), '--out', join(work, 'capped.png')]);
    assert.equal(r.code, 2, r.stderr.slice(0, 500));
    assert.match(r.stderr, /longer than 20000 characters; shorten it/);
  });

  test('PAG on emoji-dico says why it does not apply (it printed a TypeError)', async () => {
    const r = await studio(['generate', '--model', 'emoji-dico', '--pag-scale', '2', '--prompt', 'a cat', '--out', join(work, 'dico.png')]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /emoji-dico has no attention heads/);
    assert.doesNotMatch(r.stderr, /Cannot read properties|TypeError/);
  });

  test('an unwritable --out is refused at once, naming the folder', async () => {
    const r = await studio(['generate', '--prompt', 'a cat', '--out', '/proc/self/studio-out/']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--out \/proc\/self\/studio-out\/: the folder \/proc\/self\/studio-out cannot be written \(\w+\); choose a folder you can write to/);
  });

  test('--ep cuda without CUDA: one line says so and the CPU draws; no raw ORT log lines', async () => {
    const out = join(work, 'cuda.png');
    const r = await studio(['generate', '--ep', 'cuda', '--prompt', 'a cat', '--out', out]);
    assert.equal(r.code, 0, r.stderr.slice(0, 500));
    assert.ok(existsSync(out));
    assert.doesNotMatch(r.stderr, /provider_bridge|\[E:onnxruntime/);
    const notes = r.stderr.split('\n').filter((l) => l.includes('--ep cuda'));
    assert.ok(notes.length <= 1, r.stderr);
  });
});
