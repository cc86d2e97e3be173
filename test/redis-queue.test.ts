// `studio worker`, `studio batch --redis` and `studio queue` as real processes against a real
// redis-server, drawing with the embedded emoji model.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { completionsKey } from '../pipelines/jobs/redis/names.ts';
import { reconnectDelayMs } from '../pipelines/jobs/redis/connection.ts';
import { ROOT, studio } from './batch-helpers.ts';
import { freePort, RedisServer } from './redis-server.ts';

const STUDIO = join(ROOT, 'app', 'cli', 'studio.js');
const PROMPTS = ['a smiling cat face', 'a red apple', 'a dog face', 'a yellow star', 'a green tree', 'a blue heart', 'a pizza slice', 'a sun', 'a red car', 'a ghost'];

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'studio-redis-test-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A `studio worker` process; its stderr is kept, and `waitFor` resolves when a pattern shows up there. */
class WorkerProcess {
  readonly child: ChildProcess;
  log = '';
  private readonly watchers: Array<() => void> = [];
  readonly exited: Promise<number | null>;

  constructor(args: string[]) {
    this.child = spawn(process.execPath, [STUDIO, 'worker', ...args], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    this.child.stderr!.on('data', (d: Buffer) => {
      this.log += d;
      for (const w of [...this.watchers]) w();
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  waitFor(pattern: RegExp, timeoutMs = 120_000): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`worker did not print ${pattern} within ${timeoutMs} ms; it printed:\n${this.log}`)), timeoutMs);
      const check = () => {
        const m = this.log.match(pattern);
        if (!m) return;
        clearTimeout(timer);
        this.watchers.splice(this.watchers.indexOf(check), 1);
        resolve(m);
      };
      this.watchers.push(check);
      check();
    });
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) process.kill(this.child.pid!, signal);
    await this.exited;
  }
}

function batchFile(name: string, lines: string[]): string {
  const path = join(dir, name);
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

const pngs = (out: string) => readdirSync(out).filter((f) => f.endsWith('.png'));

async function completions(url: string, queue: string): Promise<Record<string, string>> {
  const redis = new Redis(url);
  try {
    return await redis.hgetall(completionsKey(queue));
  } finally {
    redis.disconnect();
  }
}

test('two workers, one killed -9 mid-run: every job is done exactly once, counted in Redis and on disk', { timeout: 300_000 }, async () => {
  const redis = await RedisServer.start();
  const workers = ['a', 'b'].map((name) => new WorkerProcess(['--redis', redis.url, '--queue', 'kill', '--name', name, '--stall-seconds', '2']));
  try {
    const out = join(dir, 'kill');
    const file = batchFile('kill.txt', PROMPTS);
    const run = studio(['batch', file, '--redis', redis.url, '--queue', 'kill', '--out', out, '--steps', '16', '--json'], { cwd: dir });
    // The first worker to finish a job has taken its next one at once: kill it in the middle of that.
    const first = await Promise.race(workers.map((w) => w.waitFor(/job \w+ done/, 240_000).then(() => w)));
    await first.stop('SIGKILL');
    const survivor = workers.find((w) => w !== first)!;
    const result = await run;
    assert.equal(result.code, 0, result.stderr);
    const summary = JSON.parse(result.stdout);
    assert.equal(summary.done, PROMPTS.length);
    assert.equal(pngs(out).length, PROMPTS.length);
    assert.deepEqual(readdirSync(out).filter((f) => f.endsWith('.tmp')), []);
    const counts = await completions(redis.url, 'kill');
    assert.deepEqual(Object.keys(counts).sort(), summary.jobs.map((j: { id: string }) => j.id).sort());
    assert.ok(Object.values(counts).every((n) => n === '1'), JSON.stringify(counts));
    // The survivor did the jobs left, including the one the other was killed in.
    const doneByKilled = (first.log.match(/job \w+ done/g) ?? []).length;
    assert.equal((survivor.log.match(/job \w+ done/g) ?? []).length, PROMPTS.length - doneByKilled, survivor.log);
  } finally {
    await Promise.all(workers.map((w) => w.stop('SIGKILL')));
    await redis.dispose();
  }
});

test('Redis restarted mid-run: the batch still finishes, each image once; a rerun adds nothing', { timeout: 300_000 }, async () => {
  const redis = await RedisServer.start();
  const worker = new WorkerProcess(['--redis', redis.url, '--stall-seconds', '5']);
  try {
    const out = join(dir, 'restart');
    const file = batchFile('restart.txt', PROMPTS.slice(0, 6));
    let restarted: Promise<void> | undefined;
    const run = studio(['batch', file, '--redis', redis.url, '--out', out, '--steps', '16'], {
      cwd: dir,
      watch: ({ stdout }) => {
        if (restarted || !stdout.includes('.png')) return;
        restarted = (async () => {
          await redis.stop();
          await new Promise((r) => setTimeout(r, 1500));
          await redis.start();
        })();
      },
    });
    const result = await run;
    await restarted;
    assert.equal(result.code, 0, result.stderr);
    assert.ok(restarted, 'Redis was restarted during the batch');
    assert.equal(pngs(out).length, 6);
    assert.match(worker.log, /cannot reach Redis|connected to Redis/);

    const rerun = await studio(['batch', file, '--redis', redis.url, '--out', out, '--steps', '16', '--detach'], { cwd: dir });
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.match(rerun.stderr, /added 0 job\(s\)/);
  } finally {
    await worker.stop('SIGKILL');
    await redis.dispose();
  }
});

test('Redis unreachable at start: a clear error, then retries with growing waits until it is there', { timeout: 300_000 }, async () => {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const worker = new WorkerProcess(['--redis', url]);
  let redis: RedisServer | undefined;
  try {
    await worker.waitFor(new RegExp(`cannot reach Redis at redis://127.0.0.1:${port} \\(ECONNREFUSED\\); is redis-server running there\\? Retrying in 0.5 s`));
    await worker.waitFor(/Retrying in 1\.0 s/);
    await worker.waitFor(/Retrying in 2\.0 s/);
    const status = await studio(['queue', 'status', '--redis', url], { cwd: dir });
    assert.equal(status.code, 1);
    assert.match(status.stderr, /cannot reach Redis at .* after 3 attempts; is redis-server running there/);

    redis = await RedisServer.start(port);
    await worker.waitFor(/connected to Redis at .* after \d+ failed attempt/);
    const out = join(dir, 'late');
    const result = await studio(['batch', batchFile('late.txt', PROMPTS.slice(0, 2)), '--redis', url, '--out', out, '--steps', '4'], { cwd: dir });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(pngs(out).length, 2);
  } finally {
    await worker.stop('SIGKILL');
    await redis?.dispose();
  }
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map(reconnectDelayMs), [500, 1000, 2000, 4000, 8000, 15000, 15000]);
});

test('a job for a model the worker cannot load fails alone, with the reason; the others are done', { timeout: 300_000 }, async () => {
  const redis = await RedisServer.start();
  const worker = new WorkerProcess(['--redis', redis.url]);
  try {
    const out = join(dir, 'bad-model');
    // There on the batch's machine, but not a model any worker can load.
    const broken = join(dir, 'broken-model.safetensors');
    writeFileSync(broken, 'this is not a safetensors file');
    const file = batchFile('bad-model.txt', ['a smiling cat face', `--prompt "a red apple" --model ${broken}`, 'a dog face']);
    const result = await studio(['batch', file, '--redis', redis.url, '--out', out, '--steps', '4', '--json'], { cwd: dir });
    assert.equal(result.code, 1, result.stderr);
    const summary = JSON.parse(result.stdout);
    assert.equal(summary.done, 2);
    assert.equal(summary.failed, 1);
    const failed = summary.jobs.find((j: { status: string }) => j.status === 'failed');
    assert.equal(failed.line, 2);
    assert.match(failed.error, /broken-model\.safetensors/);
    assert.match(result.stderr, new RegExp(`job 2 \\(.*bad-model.txt:2\\) failed: .*broken-model`));
    assert.equal(pngs(out).length, 2);

    const status = await studio(['queue', 'status', '--redis', redis.url, '--json'], { cwd: dir });
    const models = JSON.parse(status.stdout).models;
    assert.equal(models.length, 2);
    assert.deepEqual(models.map((m: { counts: { failed: number } }) => m.counts.failed).sort(), [0, 1]);
    const retried = await studio(['queue', 'retry-failed', '--redis', redis.url], { cwd: dir });
    assert.match(retried.stdout, /put 1 failed job\(s\) back/);
  } finally {
    await worker.stop('SIGKILL');
    await redis.dispose();
  }
});

test('bad --redis and --queue values are usage errors naming the fix', async () => {
  const notUrl = await studio(['batch', '--prompt', 'a cat', '--redis', 'localhost:6379'], { cwd: dir });
  assert.equal(notUrl.code, 2);
  assert.match(notUrl.stderr, /--redis "localhost:6379": .*give a URL like redis:\/\/127\.0\.0\.1:6379/);
  const badQueue = await studio(['worker', '--redis', 'redis://127.0.0.1:1', '--queue', 'a:b'], { cwd: dir });
  assert.equal(badQueue.code, 2);
  assert.match(badQueue.stderr, /--queue "a:b": use 1 to 64 letters/);
});

test('a worker keeps its model: jobs for two models, interleaved in the batch, are run model by model', { timeout: 300_000 }, async () => {
  const redis = await RedisServer.start();
  let worker: WorkerProcess | undefined;
  try {
    const out = join(dir, 'affinity');
    const rows = PROMPTS.slice(0, 6).map((p, i) => (i % 2 ? `--prompt "${p}" --model emoji-dit` : p));
    const file = batchFile('affinity.txt', rows);
    // Everything is queued before the worker starts, so what it picks depends only on its rule.
    const queued = await studio(['batch', file, '--redis', redis.url, '--out', out, '--steps', '4', '--detach'], { cwd: dir });
    assert.equal(queued.code, 0, queued.stderr);
    assert.match(queued.stderr, /added 6 job\(s\)/);
    worker = new WorkerProcess(['--redis', redis.url]);
    const result = await studio(['batch', file, '--redis', redis.url, '--out', out, '--steps', '4'], { cwd: dir });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(pngs(out).length, 6);
    // One model load each: three jobs of one model, then three of the other.
    const switches = worker.log.match(/taking jobs for .*/g) ?? [];
    assert.equal(switches.length, 2, worker.log);
    assert.notEqual(switches[0], switches[1]);
    const log = worker.log.split('\n');
    const firstSwitch = log.findIndex((l) => l.includes('taking jobs for'));
    const secondSwitch = log.findLastIndex((l) => l.includes('taking jobs for'));
    assert.equal(log.slice(firstSwitch, secondSwitch).filter((l) => / done in /.test(l)).length, 3, worker.log);
  } finally {
    await worker?.stop('SIGKILL');
    await redis.dispose();
  }
});
