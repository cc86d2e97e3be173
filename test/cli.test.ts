// Runs the real `studio` process (through the package's bin shim). Generation goes through a fake
// engine module, written below into a temp folder and named by STUDIO_TEST_ENGINE, that draws
// tiny gradients; everything else — argument checks, output naming, PNG chunks, atomic writes,
// Ctrl-C — is the real CLI.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { UsageError } from '../app/cli/exit-codes.ts';
import { parseGenerateArgs } from '../app/cli/generate-args.ts';
import { formatProgress } from '../app/cli/progress-bar.ts';
import { readImageMetadata } from '../pipelines/metadata/index.ts';
import { SAMPLER_NAMES } from '../pipelines/jobs/api.ts';
import { FAMILIES } from '../pipelines/families/registry.ts';
import { familySummaries } from '../pipelines/jobs/families.ts';
import { generateHelp, mainHelp } from '../app/cli/help.ts';

const ROOT = resolve(import.meta.dirname, '..');
const STUDIO = join(ROOT, 'app', 'cli', 'studio.js');

const FAKE_ENGINE = `
// Test double for pipelines/recipes/generate.ts: a gradient per image, one progress event per step.
export async function runGenerate(request, { onProgress, signal } = {}) {
  const stepMs = Number(process.env.FAKE_STEP_MS ?? 0);
  const width = request.width ?? 64;
  const height = request.height ?? 64;
  const steps = request.steps ?? 4;
  for (let step = 1; step <= steps; step++) {
    if (signal?.aborted) throw signal.reason;
    if (stepMs) await new Promise((r) => setTimeout(r, stepMs));
    onProgress?.({ phase: 'denoise', step, total: steps });
    if (step === 1) process.stderr.write('fake-engine: running\\n');
  }
  if (process.env.FAKE_SIGINT_AT_END) {
    // Ctrl-C reaches the CLI: the engine host is the CLI's child process (process.send is its IPC channel).
    process.kill(process.send ? process.ppid : process.pid, 'SIGINT');
    await new Promise((r) => setTimeout(r, 100));
  }
  const images = [];
  for (let b = 0; b < request.batch; b++) {
    const pixels = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++)
        for (let c = 0; c < 3; c++) pixels[(y * width + x) * 3 + c] = (x * 3 + y * 5 + c * 70 + b * 40 + request.seed) & 255;
    images.push({ width, height, pixels, seed: request.seed, batchIndex: b });
  }
  return { images, model: { name: 'fake-model', file: process.env.FAKE_MODEL_FILE }, ep: request.ep, timings: { denoise: 1.5 } };
}
`;

function expectedPixels(width: number, height: number, seed: number, b: number): Buffer {
  const px = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 3; c++) px[(y * width + x) * 3 + c] = (x * 3 + y * 5 + c * 70 + b * 40 + seed) & 255;
  return px;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let work = '';
let fakeEngine = '';
let modelFile = '';

function studio(args: string[], options: { engine?: boolean; env?: Record<string, string>; onStderr?: (text: string, kill: () => void) => void } = {}): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env, FAKE_MODEL_FILE: modelFile, ...options.env };
  delete env.STUDIO_TEST_ENGINE;
  if (options.engine !== false) env.STUDIO_TEST_ENGINE = fakeEngine;
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [STUDIO, ...args], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
      options.onStderr?.(stderr, () => child.kill('SIGINT'));
    });
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

function listDir(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

before(() => {
  work = mkdtempSync(join(tmpdir(), 'studio-cli-'));
  fakeEngine = join(work, 'fake-engine.mjs');
  writeFileSync(fakeEngine, FAKE_ENGINE);
  modelFile = join(work, 'fake-model.safetensors');
  writeFileSync(modelFile, 'not really a model, but hashed like one');
});

after(() => rmSync(work, { recursive: true, force: true }));

describe('help and usage errors', () => {
  test('--help lists the commands; generate --help lists every option and sampler', async () => {
    const main = await studio(['--help']);
    assert.equal(main.code, 0);
    assert.match(main.stdout, /generate/);
    const gen = await studio(['generate', '--help']);
    assert.equal(gen.code, 0, gen.stderr);
    const flags = ['--model', '--prompt', '--negative', '--steps', '--cfg', '--sampler', '--seed', '--width', '--height', '--batch', '--init-image', '--strength', '--pag-scale', '--pag-layers', '--attention', '--ep', '--out', '--json', '--vae', '--clip-skip', '--models-dir'];
    for (const word of [...flags, ...SAMPLER_NAMES]) assert.ok(gen.stdout.includes(word), `help lacks ${word}`);
  });

  test('both helps list every family of the registry, with its defaults', async () => {
    const main = await studio(['--help']);
    const gen = await studio(['generate', '--help']);
    assert.ok(FAMILIES.length >= 10);
    for (const f of FAMILIES) {
      assert.match(main.stdout, new RegExp(`\\b${f.id}\\b`), `studio --help lacks ${f.id}`);
      const row = gen.stdout.split('\n').find((line) => line.trimStart().startsWith(`${f.id} `));
      assert.ok(row, `studio generate --help has no row for ${f.id}`);
      const d = f.defaults;
      assert.ok(row.includes(f.label) && row.includes(`${d.width}×${d.height}, ${d.steps} steps, cfg ${d.cfg}, ${d.sampler}`), row);
    }
  });

  test('a family added to the registry appears in the help', () => {
    const added = { id: 'newfam', label: 'New Family 9', builtIn: true, isDefault: false, defaults: { width: 320, height: 192, steps: 13, cfg: 2.5, sampler: 'euler' as const } };
    const before = [mainHelp(familySummaries()), generateHelp(familySummaries())];
    const after = [mainHelp([...familySummaries(), added]), generateHelp([...familySummaries(), added])];
    for (const text of before) assert.ok(!text.includes('newfam'));
    assert.match(after[0], /emoji-dico, newfam\)/);
    assert.match(after[0], /, dico, newfam\n/);
    assert.match(after[1], /built-in model: emoji-lit \(default\), emoji-dit, emoji-dico, newfam\n/);
    assert.match(after[1], /\n {2}newfam +New Family 9 +320×192, 13 steps, cfg 2\.5, euler\n/);
  });

  test('no command and unknown commands are usage errors', async () => {
    assert.equal((await studio([])).code, 2);
    const r = await studio(['paint']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command "paint"/);
  });

  const cases: Array<[string[], RegExp]> = [
    [[], /--prompt is required/],
    [['--prompt', 'x', '--width', '500'], /--width: must be a multiple of 8.*\(got 500\)/],
    [['--prompt', 'x', '--height', '0'], /--height: must be at least 64/],
    [['--prompt', 'x', '--sampler', 'dpm'], /--sampler: must be one of: ddim .*dpmpp_2m_karras .*flow_euler \(got "dpm"\)/],
    [['--prompt', 'x', '--seed', 'abc'], /--seed: expected a whole number, got "abc"/],
    [['--prompt', 'x', '--seed', '-5'], /--seed: must be from 0 to/],
    [['--prompt', 'x', '--seed', '1e30'], /--seed: expected a whole number/],
    [['--prompt', 'x', '--steps', '0', '--cfg', 'lots'], /--cfg: expected a number[\s\S]*--steps: must be at least 1/],
    [['--prompt', 'x', '--bogus'], /Unknown option '--bogus'/],
    [['--prompt', 'x', '--strength', '0.5'], /--strength: only applies to img2img/],
    [['--prompt', 'x', '--init-image', 'missing.png'], /--init-image: no file or folder at missing\.png/],
    [['--prompt', 'x', '--attention', 'flash'], /--attention: expected softmax, agent or linfusion:PATH/],
    [['--prompt', 'x', '--pag-layers', 'mid'], /--pag-layers needs --pag-scale/],
    [['--prompt', 'x', '--ep', 'tpu'], /--ep: must be one of: cpu webgpu cuda dml coreml/],
    [['a', 'cat'], /positional/],
  ];
  test('every bad option is reported by name (in-process)', async () => {
    for (const [args, message] of cases) {
      await assert.rejects(parseGenerateArgs(args), (e: Error) => e instanceof UsageError && message.test(e.message), args.join(' '));
    }
  });

  // A process per case costs seconds under tsx, so only some go through the real process.
  for (const [args, message] of cases.filter((_, i) => [0, 1, 3, 4, 8].includes(i))) {
    test(`studio generate ${args.join(' ') || '(no options)'} → exit 2`, async () => {
      const r = await studio(['generate', ...args]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.match(r.stderr, /studio generate --help/);
      assert.equal(r.stdout, '');
    });
  }
});

describe('generate', () => {
  test('the real engine on a corrupt checkpoint: a clear runtime failure (exit 1) naming the file, nothing written', async () => {
    const out = join(work, 'corrupt-out');
    const model = join(work, 'corrupt.safetensors');
    writeFileSync(model, Buffer.from('not a safetensors file at all'));
    const r = await studio(['generate', '--model', model, '--prompt', 'x', '--out', out], { engine: false });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /corrupt\.safetensors.*not a safetensors file/);
    assert.deepEqual(listDir(out), []);
  });

  test('--out FILE.png --json: one PNG with both chunks, exact pixels, JSON report', async () => {
    const file = join(work, 'single', 'apple.png');
    const args = ['generate', '--prompt', 'a red apple, on a table', '--negative', 'blurry', '--steps', '3', '--cfg', '6', '--sampler', 'euler_a', '--seed', '7', '--width', '64', '--height', '72', '--clip-skip', '2', '--out', file, '--json'];
    const r = await studio(args);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { files: string[]; seeds: number[]; timings: Record<string, number>; ep: string };
    assert.deepEqual(Object.keys(report).sort(), ['ep', 'files', 'seeds', 'timings']);
    assert.deepEqual(report.files, [file]);
    assert.deepEqual(report.seeds, [7]);
    assert.equal(report.ep, 'cpu');
    assert.equal(report.timings.denoise, 1.5);
    for (const k of ['hash', 'write', 'total']) assert.ok(Number.isFinite(report.timings[k]) && report.timings[k] >= 0, k);

    const png = readFileSync(file);
    const meta = readImageMetadata(png, file);
    assert.deepEqual(meta.warnings, []);
    const sha = createHash('sha256').update(readFileSync(modelFile)).digest('hex');
    assert.equal(
      meta.text.get('parameters'),
      'a red apple, on a table\nNegative prompt: blurry\nSteps: 3, Sampler: Euler a, Schedule type: Uniform, CFG scale: 6, Seed: 7, ' +
        `Size: 64x72, Model hash: ${sha.slice(0, 10)}, Model: fake-model, Clip skip: 2, RNG: CPU, Version: diffusion-studio 0.1.0`,
    );
    assert.equal(meta.studio?.model.sha256, sha);
    assert.deepEqual(meta.studio?.image, { batchIndex: 0, seed: 7, width: 64, height: 72 });
    assert.deepEqual(
      meta.studio?.request,
      { prompt: 'a red apple, on a table', negative: 'blurry', steps: 3, cfg: 6, sampler: 'euler_a', seed: 7, width: 64, height: 72, batch: 1, attention: { kind: 'softmax' }, ep: 'cpu', clipSkip: 2 },
    );
    const decoded = await sharp(png).raw().toBuffer();
    assert.ok(decoded.equals(expectedPixels(64, 72, 7, 0)), 'PNG pixels differ from the engine output');

    const again = await studio(args);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /already exists/);
    assert.ok(readFileSync(file).equals(png), 'existing file was changed');
    assert.deepEqual(listDir(join(work, 'single')), ['apple.png']);
  });

  test('--out DIR: created, NNNNN-SEED.png numbered after existing files, never overwritten', async () => {
    const dir = join(work, 'batches', 'nested');
    const first = await studio(['generate', '--prompt', 'x', '--steps', '2', '--seed', '11', '--batch', '3', '--out', dir]);
    assert.equal(first.code, 0, first.stderr);
    const names = ['00000-11.png', '00001-11.png', '00002-11.png'];
    assert.deepEqual(first.stdout.trim().split('\n'), names.map((n) => join(dir, n)));
    assert.deepEqual(listDir(dir), names);
    const firstBytes = names.map((n) => readFileSync(join(dir, n)));
    for (const [b, bytes] of firstBytes.entries()) {
      const meta = readImageMetadata(bytes);
      assert.equal(meta.studio?.image.batchIndex, b);
      assert.equal(meta.a1111?.extra['Batch pos'], String(b));
      assert.ok((await sharp(bytes).raw().toBuffer()).equals(expectedPixels(64, 64, 11, b)), `image ${b} pixels`);
    }

    writeFileSync(join(dir, '00007-notes.txt'), 'a numbered file of another kind');
    const second = await studio(['generate', '--prompt', 'x', '--steps', '2', '--seed', '12', '--batch', '2', '--out', dir, '--json']);
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(JSON.parse(second.stdout).files, [join(dir, '00008-12.png'), join(dir, '00009-12.png')]);
    assert.deepEqual(listDir(dir), [...names, '00007-notes.txt', '00008-12.png', '00009-12.png']);
    names.forEach((n, i) => assert.ok(readFileSync(join(dir, n)).equals(firstBytes[i]), `${n} changed`));
  });

  test('--seed -1 draws a random seed and records it', async () => {
    const dir = join(work, 'random');
    const r = await studio(['generate', '--prompt', 'x', '--steps', '1', '--seed', '-1', '--out', dir, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const { seeds, files } = JSON.parse(r.stdout) as { seeds: number[]; files: string[] };
    assert.ok(Number.isInteger(seeds[0]) && seeds[0] >= 0 && seeds[0] < 2 ** 32);
    assert.deepEqual(files, [join(dir, `00000-${seeds[0]}.png`)]);
    assert.equal(readImageMetadata(readFileSync(files[0])).studio?.request.seed, seeds[0]);
  });

  test('--out FILE.png with --batch 2 is a usage error', async () => {
    const r = await studio(['generate', '--prompt', 'x', '--batch', '2', '--out', join(work, 'two.png')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /names one file but --batch is 2/);
  });

  test('Ctrl-C during the steps: exit 130, no file and no temp file left', async () => {
    const dir = join(work, 'cancel-steps');
    mkdirSync(dir);
    let sent = false;
    const r = await studio(['generate', '--prompt', 'x', '--steps', '400', '--out', dir], {
      env: { FAKE_STEP_MS: '25' },
      onStderr: (text, kill) => {
        if (!sent && text.includes('fake-engine: running')) {
          sent = true;
          kill();
        }
      },
    });
    assert.ok(sent, 'the engine never started');
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /cancelled/);
    assert.deepEqual(listDir(dir), []);
  });

  test('Ctrl-C after the last step: the images are not written', async () => {
    const dir = join(work, 'cancel-end');
    const r = await studio(['generate', '--prompt', 'x', '--steps', '2', '--batch', '2', '--out', dir], { env: { FAKE_SIGINT_AT_END: '1' } });
    assert.equal(r.code, 130, r.stderr);
    assert.deepEqual(listDir(dir), []);
  });
});

test('progress line: counts, rate, ETA, fitted to the terminal', () => {
  const line = formatProgress({ phase: 'denoise', step: 5, total: 20 }, 2000, 80);
  assert.match(line, /^denoise +\[#{10}-{30}\] 5\/20 {2}2\.50 it\/s {2}ETA 6s$/);
  assert.ok(line.length <= 79);
  assert.ok(formatProgress({ phase: 'decode', step: 1, total: 4 }, 5000, 30).length <= 29);
  assert.match(formatProgress({ phase: 'load', step: 1, total: 2 }, 4000, 80), / 1\/2 {2}4\.00 s\/it {2}ETA 4s/);
});
