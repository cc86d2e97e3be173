// `studio heads list|search` as real processes on the tiny SD 1.x fixture, and `studio generate
// --heads` parsed in-process (the preset a search writes must come back as the request's heads).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fixture, skipWithoutFixtures as skip } from './fixtures.ts';
import { parseGenerateArgs } from '../app/cli/generate-args.ts';
import { UsageError } from '../app/cli/exit-codes.ts';
import { readHeadPreset } from '../pipelines/heads/presets.ts';

const STUDIO = resolve(import.meta.dirname, '..', 'app', 'cli', 'studio.js');

function studio(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [STUDIO, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

test('studio heads list: one line per self-attention layer, and --json', { skip }, async () => {
  const text = await studio(['heads', 'list', '--model', fixture('sd15-tiny')]);
  assert.equal(text.code, 0, text.stderr);
  const lines = text.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 16);
  assert.match(lines[6], /^ 6 {2}mid_block\.attentions\.0\.transformer_blocks\.0\.attn1 +8$/);
  const json = JSON.parse((await studio(['heads', 'list', '--model', fixture('sd15-tiny'), '--json'])).stdout);
  assert.equal(json.family, 'sd1');
  assert.equal(json.layers.length, 16);
  assert.deepEqual(json.layers[15], { index: 15, name: 'up_blocks.3.attentions.2.transformer_blocks.0.attn1', heads: 8 });
  assert.equal(json.architecture.hash.length, 16);

  const embedded = await studio(['heads', 'list']);
  assert.equal(embedded.code, 0, embedded.stderr);
  assert.deepEqual(embedded.stdout.trimEnd().split('\n').map((l) => l.trim().split(/ +/)), Array.from({ length: 6 }, (_, i) => [String(i), `blocks.${i}.attn`, '2']), 'without --model: the default embedded model (emoji-lit)');
  const missing = await studio(['heads', 'list', '--model', 'no-such-model.safetensors']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /model no-such-model\.safetensors: no such file or folder/);
});

test('studio heads search writes a preset that generate --heads reads back; a rerun resumes from the cache', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'heads-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'crisp.json');
  const args = ['heads', 'search', '--model', fixture('sd15-tiny'), '--prompt', 'a red apple', '--objective', 'sharpness',
    '--rounds', '2', '--k', '1', '--u', '0.5', '--size', '64', '--steps', '2', '--layers', '3', '--seeds', '1', '--out', out];
  const first = await studio(args);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /^set +sharpness\nno perturbation +\S+\nPAG on every head +\S+\nround 1: \+L3H\d +\S+\nround 2: \+L3H\d +\S+\n/);
  // Two baselines, then 8 and 7 candidates; with k = 1 each round's set is its best candidate, already scored.
  assert.match(first.stdout, /wrote .*crisp\.json: 2 heads at u = 0\.5, scale 3 \(17 previews rendered, 2 from the cache/);

  const preset = readHeadPreset(out);
  assert.equal(preset.name, 'crisp');
  assert.equal(preset.heads.length, 2);
  assert.ok(preset.heads.every((h) => h.layer === 3 && h.u === 0.5));
  assert.deepEqual(Object.keys(preset.search!.scores!), ['none', 'allHeads', 'round1', 'round2']);

  const again = await studio([...args, '--json']);
  assert.equal(again.code, 0, again.stderr);
  const report = JSON.parse(again.stdout);
  assert.equal(report.renders, 0);
  assert.deepEqual(report.heads, preset.heads);

  const parsed = await parseGenerateArgs(['--prompt', 'x', '--model', fixture('sd15-tiny'), '--pag-scale', '3', '--heads', out]);
  assert.ok(!parsed.help);
  if (!parsed.help) assert.deepEqual(parsed.request.pag?.heads, preset.heads.map(({ layer, head, u }) => ({ layer, head, strength: u })));

  const other = (a: string[], message: RegExp) => assert.rejects(parseGenerateArgs(a), (e: Error) => e instanceof UsageError && message.test(e.message), a.join(' '));
  await other(['--prompt', 'x', '--model', fixture('sdxl-tiny'), '--pag-scale', '3', '--heads', out], /--heads: head preset .*crisp\.json does not fit this model: it is for a sd1 model and this model is sdxl/);
  await other(['--prompt', 'x', '--model', fixture('sd15-tiny'), '--heads', out], /--heads needs --pag-scale/);
  await other(['--prompt', 'x', '--pag-scale', '3', '--heads', out], /--heads: head preset .*: the model must be known to check that the preset fits it; name the model \(--model\)/);
});

test('studio heads search: every bad option is reported by name', { skip }, async () => {
  const r = await studio(['heads', 'search', '--model', fixture('sd15-tiny'), '--prompt', 'x', '--objective', 'sharpness', '--out', 'p.json',
    '--u', '1.5', '--k', '0', '--size', '100', '--seeds', 'a,b', '--sampler', 'fast']);
  assert.equal(r.code, 2);
  for (const m of [/--k: must be a whole number of at least 1 \(got "0"\)/, /--u: must be above 0 and at most 1 \(got "1\.5"\)/, /--size: must be a multiple of 8, at least 64 \(got "100"\)/, /--seeds: expected whole numbers/, /--sampler: must be one of/]) {
    assert.match(r.stderr, m);
  }
  const objective = await studio(['heads', 'search', '--model', fixture('sd15-tiny'), '--prompt', 'x', '--objective', 'beauty', '--out', 'p.json']);
  assert.equal(objective.code, 2);
  assert.match(objective.stderr, /--objective: unknown objective "beauty"; use one of: sharpness, contrast, colourfulness, reference/);
  const layers = await studio(['heads', 'search', '--model', fixture('sd15-tiny'), '--prompt', 'x', '--objective', 'contrast', '--out', 'p.json', '--layers', '16']);
  assert.equal(layers.code, 2);
  assert.match(layers.stderr, /--layers: layer 16 does not exist \(this model has self-attention layers 0–15/);
});
