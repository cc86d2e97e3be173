// Regression tests for the CLI findings of issue 17, with the real engine and the embedded models: a
// long prompt (it crashed with SIGSEGV), prompts over the cap, a method that does not apply, an
// unavailable provider, an output folder that cannot be written (found before any model loads),
// Ctrl-C once and twice, driven by the `--progress lines` output (no sleeps), and a full disk.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
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

/** A running `studio generate` whose stderr can be awaited line by line. */
class Running {
  readonly child: ChildProcess;
  stderr = '';
  private readonly waiters: Array<{ pattern: RegExp; resolve: () => void }> = [];
  readonly exited: Promise<{ code: number | null; signal: string | null }>;

  constructor(args: string[]) {
    const env = { ...process.env };
    delete env.STUDIO_TEST_ENGINE;
    this.child = spawn(process.execPath, [STUDIO, ...args], { cwd: work, env, stdio: ['ignore', 'ignore', 'pipe'] });
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d;
      for (const w of this.waiters.filter((w) => w.pattern.test(this.stderr))) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve();
      }
    });
    this.exited = new Promise((done) => this.child.on('close', (code, signal) => done({ code, signal })));
  }

  /** Resolves when stderr so far matches `pattern`; fails if the process ends first. */
  waitFor(pattern: RegExp): Promise<void> {
    if (pattern.test(this.stderr)) return Promise.resolve();
    const seen = new Promise<void>((resolve) => this.waiters.push({ pattern, resolve }));
    const ended = this.exited.then(({ code }) => {
      throw new Error(`studio exited (${code}) before stderr matched ${pattern}:\n${this.stderr}`);
    });
    return Promise.race([seen, ended]);
  }

  /** The engine host: the child process of the CLI that runs pipelines/host/entry. */
  hostPid(): number {
    const pids = readdirSync('/proc').filter((n) => /^\d+$/.test(n));
    const host = pids.find((pid) => {
      try {
        const ppid = Number(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1]);
        return ppid === this.child.pid && /host[\\/]entry\.[jt]s/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
      } catch {
        return false; // it ended while the list was read
      }
    });
    assert.ok(host, 'the CLI has an engine host child process');
    return Number(host);
  }
}

/** Resolves once the process is gone or dead (a zombie waiting for its reaper), as seen in /proc. */
async function processEnds(pid: number): Promise<void> {
  const ended = (): boolean => {
    try {
      return /^\d+ \(.*\) [ZX]/s.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return true;
    }
  };
  while (!ended()) await new Promise((r) => setTimeout(r, 20));
}

/** A 40-step generation, its engine host paused (SIGSTOP) inside step 2, and one SIGINT taken by the CLI. */
async function interruptMidStep(name: string): Promise<{ out: string; run: Running; host: number }> {
  const out = join(work, name);
  const run = new Running(['generate', '--prompt', 'a cat', '--steps', '40', '--out', `${out}/`]);
  await run.waitFor(/^denoise 1\/40$/m);
  const host = run.hostPid();
  process.kill(host, 'SIGSTOP');
  run.child.kill('SIGINT');
  await run.waitFor(/Cancelling after the current step/);
  return { out, run, host };
}

describe('Ctrl-C during studio generate', { timeout: 300_000 }, () => {
  test('one SIGINT cancels after the current step: a message, exit 130, no file left', async () => {
    // The engine is held inside its step (SIGSTOP) while the CLI takes the signal, so the run cannot
    // finish before the cancel however the machine is loaded.
    const { out, run, host } = await interruptMidStep('cancel-once');
    process.kill(host, 'SIGCONT');
    const { code, signal } = await run.exited;
    assert.equal(signal, null, run.stderr);
    assert.equal(code, 130, run.stderr);
    assert.match(run.stderr, /^studio generate: cancelled$/m);
    assert.doesNotMatch(run.stderr, /denoise 40\/40/);
    assert.doesNotMatch(run.stderr, /Napi::Error|\n\s+at /);
    assert.deepEqual(existsSync(out) ? readdirSync(out) : [], [], 'no image and no temp file is left');
    await processEnds(host);
  });

  test('a second SIGINT during the cancel exits 130 at once, stops the engine, prints no native error', async () => {
    // Held in its step, the engine cannot reach the point where the first Ctrl-C would end the run:
    // only the second one can (as with a long step on a large model).
    const { out, run, host } = await interruptMidStep('cancel-twice');
    run.child.kill('SIGINT');
    const { code, signal } = await run.exited;
    assert.equal(signal, null, run.stderr);
    assert.equal(code, 130, run.stderr);
    assert.doesNotMatch(run.stderr, /Napi::Error|napi|\n\s+at |Error:/, run.stderr);
    assert.deepEqual(existsSync(out) ? readdirSync(out) : [], [], 'no image and no temp file is left');
    // The host was stopped: only the CLI's SIGKILL on its way out can end it (without it, this waits
    // until the test times out; 'close' above already needed the host's end of stderr closed).
    await processEnds(host);
  });

  test('--progress takes lines, bar or none and names the choices otherwise', async () => {
    const r = await studio(['generate', '--prompt', 'a cat', '--progress', 'dots']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--progress: expected one of lines, bar, none, got "dots"/);
  });

  test('--progress none prints no step lines; the image is still written', async () => {
    const out = join(work, 'quiet.png');
    const r = await studio(['generate', '--prompt', 'a cat', '--steps', '2', '--progress', 'none', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(out));
    assert.doesNotMatch(r.stderr, /denoise/);
  });
});

/** A small tmpfs of its own is a real full disk; mounting one needs root (as CI and this machine run). */
function mountTmpfs(dir: string, size: string): string | undefined {
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
    return undefined;
  } catch (e) {
    return `cannot mount a tmpfs here (${(e as Error).message.split('\n')[0]}); a full disk needs one`;
  }
}

describe('a full disk', () => {
  const disk = join(work, 'full-disk');
  const skip = mountTmpfs(disk, '256k');
  after(() => {
    if (!skip) execFileSync('umount', [disk]);
  });

  test('generate says the disk is full and what to do (exit 1); nothing half-written; earlier images kept', { skip, timeout: 300_000 }, async () => {
    const first = await studio(['generate', '--prompt', 'a cat', '--steps', '2', '--out', `${disk}/`]);
    assert.equal(first.code, 0, first.stderr);
    const kept = readdirSync(disk);
    assert.equal(kept.length, 1);
    const keptBytes = readFileSync(join(disk, kept[0]));
    // Take every block that is left.
    const { bavail, bsize } = statfsSync(disk);
    writeFileSync(join(disk, 'filler'), Buffer.alloc(bavail * bsize));
    assert.equal(statfsSync(disk).bavail, 0);

    const r = await studio(['generate', '--prompt', 'a dog', '--steps', '2', '--out', `${disk}/`]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /studio generate: error: no space left on the disk holding .*full-disk \(ENOSPC\): 00001-\d+\.png \(\d+ bytes\) was not written, and nothing half-written was left; free some space and run again/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    assert.deepEqual(readdirSync(disk).sort(), [kept[0], 'filler'].sort(), 'no temp file and no partial image');
    assert.deepEqual(readFileSync(join(disk, kept[0])), keptBytes);
  });
});

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
