// The persistent job queue: state survives a restart, adding is idempotent, a job whose process was
// SIGKILLed is queued again once (then failed), several real processes sharing one queue run every
// job exactly once, torn and damaged journal lines are survived, compaction keeps the state, and the
// app's queue adapter resumes after a shutdown.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { PersistentJobQueue, PersistentQueue, QueueLockedError } from '../pipelines/queue/index.ts';
import { JOURNAL_FILE, LOCK_FILE } from '../pipelines/queue/queue.ts';

const ROOT = resolve(import.meta.dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'studio-queue-'));
after(() => rmSync(work, { recursive: true, force: true }));
let n = 0;
const freshDir = () => join(work, `q${n++}`);

/** A child process using the queue (real process, real locks): see the modes below. */
const CHILD = join(work, 'child.ts');
writeFileSync(
  CHILD,
  `import { PersistentQueue } from ${JSON.stringify(join(ROOT, 'pipelines/queue/queue.ts'))};
const [dir, mode, arg] = process.argv.slice(2);
const q = PersistentQueue.open(dir);
if (mode === 'claim-and-hang') {
  const job = q.claim();
  process.stdout.write(JSON.stringify({ claimed: job?.id }) + '\\n');
  setInterval(() => {}, 1000);
} else if (mode === 'work') {
  // Adds its own jobs, then runs any queued job until none is left.
  q.add(Array.from({ length: Number(arg) }, (_, i) => ({ id: 'p' + process.pid + '-' + i, group: 'g', payload: { i } })));
  const ran = [];
  for (let job; (job = q.claim()); ) {
    ran.push(job.id);
    q.complete(job.id, [{ file: job.id + '.png' }]);
  }
  process.stdout.write(JSON.stringify({ ran }) + '\\n');
}
`,
);

function child(args: string[]): { done: Promise<{ code: number | null; stdout: string }>; kill: () => void; firstLine: Promise<string> } {
  const p = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  let resolveLine: (s: string) => void;
  const firstLine = new Promise<string>((r) => (resolveLine = r));
  p.stdout.on('data', (d: Buffer) => {
    stdout += d;
    if (stdout.includes('\n')) resolveLine(stdout.split('\n')[0]);
  });
  const done = new Promise<{ code: number | null; stdout: string }>((r) => p.on('close', (code) => r({ code, stdout })));
  return { done, kill: () => p.kill('SIGKILL'), firstLine };
}

describe('persistent queue', () => {
  test('state and history survive a restart; adding the same id twice adds nothing', () => {
    const dir = freshDir();
    const q = PersistentQueue.open<{ prompt: string }>(dir);
    const added = q.add([
      { id: 'a', group: 'g', payload: { prompt: 'one' } },
      { id: 'b', group: 'g', payload: { prompt: 'two' } },
      { id: 'c', group: 'g', payload: { prompt: 'three' } },
    ]);
    assert.deepEqual(added.map((a) => a.outcome), ['added', 'added', 'added']);
    const a = q.claim()!;
    assert.equal(a.id, 'a');
    q.complete('a', [{ file: 'a-0.png', info: { seed: 1 } }, { file: 'a-1.png' }]);
    const b = q.claim()!;
    q.fail(b.id, 'out of memory');
    assert.equal(q.cancel('c', 'not wanted'), true);
    assert.throws(() => q.complete('c', []), /cancelled, not running in this process/);
    q.close();

    const again = PersistentQueue.open<{ prompt: string }>(dir);
    assert.deepEqual(
      again.jobs().map((j) => [j.id, j.status, j.payload.prompt, j.attempts]),
      [['a', 'done', 'one', 1], ['b', 'failed', 'two', 1], ['c', 'cancelled', 'three', 0]],
    );
    assert.equal(again.get('b')!.error, 'out of memory');
    assert.deepEqual(again.history().map((h) => h.file), ['a-1.png', 'a-0.png']);
    assert.deepEqual(again.add([{ id: 'a', group: 'g', payload: { prompt: 'one' } }]).map((x) => x.outcome), ['exists']);
    assert.deepEqual(again.add([{ id: 'b', group: 'g', payload: { prompt: 'two' } }], { retry: true }).map((x) => x.outcome), ['requeued']);
    assert.equal(again.jobs().length, 3);
    assert.equal(again.claim()!.id, 'b');
    again.close();
  });

  test('a job whose process was SIGKILLed is queued again once, then marked failed', async () => {
    const dir = freshDir();
    const q = PersistentQueue.open(dir);
    q.add([{ id: 'crashy', group: 'g', payload: {} }]);
    for (const attempt of [1, 2]) {
      const c = child([dir, 'claim-and-hang']);
      assert.equal(JSON.parse(await c.firstLine).claimed, 'crashy');
      assert.equal(q.get('crashy')!.status, 'running');
      c.kill();
      await c.done;
      q.claim(() => false); // any change first re-queues the jobs of dead processes
      const job = q.get('crashy')!;
      if (attempt === 1) {
        assert.equal(job.status, 'queued');
        assert.match(job.error!, /stopped; queued again/);
      } else {
        assert.equal(job.status, 'failed');
        assert.match(job.error!, /stopped, 2 times; it is not started again/);
      }
    }
    q.close();
  });

  test('three processes sharing one queue run every job exactly once', async () => {
    const dir = freshDir();
    PersistentQueue.open(dir).close();
    const runs = await Promise.all([0, 1, 2].map(() => child([dir, 'work', '15']).done));
    const ran = runs.flatMap((r) => {
      assert.equal(r.code, 0);
      return JSON.parse(r.stdout).ran as string[];
    });
    assert.equal(ran.length, 45);
    assert.equal(new Set(ran).size, 45, 'a job ran twice');
    const q = PersistentQueue.open(dir);
    const jobs = q.jobs();
    assert.equal(jobs.length, 45);
    assert.ok(jobs.every((j) => j.status === 'done' && j.attempts === 1));
    assert.equal(q.history().length, 45);
    assert.deepEqual(q.warnings, []);
    q.close();
  });

  test('a torn last line is dropped; a damaged line is skipped with a warning naming it', () => {
    const dir = freshDir();
    const q = PersistentQueue.open(dir);
    q.add([{ id: 'x', group: 'g', payload: 1 }]);
    q.close();
    const journal = join(dir, JOURNAL_FILE);
    appendFileSync(journal, '{"t":"add","id":"y","group":"g","payload":2,"at":1}\nnot json at all\n{"t":"start","id":"x","ow');
    const q2 = PersistentQueue.open(dir);
    assert.deepEqual(q2.jobs().map((j) => j.id), ['x', 'y']);
    assert.equal(q2.warnings.length, 1);
    assert.match(q2.warnings[0], /\.studio-queue\.jsonl:4: not valid JSON, skipped/);
    assert.ok(readFileSync(journal, 'utf8').endsWith('\n'), 'the torn line was not cut off');
    q2.add([{ id: 'z', group: 'g', payload: 3 }]);
    q2.close();
    assert.deepEqual(PersistentQueue.open(dir).jobs().map((j) => j.id), ['x', 'y', 'z']);
  });

  test('compaction rewrites a long journal without losing jobs, history, or other readers', () => {
    const dir = freshDir();
    const q = PersistentQueue.open(dir, { keepFinished: 10, compactAfterLines: 100 });
    const reader = PersistentQueue.open(dir);
    assert.equal(reader.jobs().length, 0);
    q.add(Array.from({ length: 60 }, (_, i) => ({ id: `j${i}`, group: 'g', payload: i })));
    for (let i = 0; i < 60; i++) q.complete(q.claim()!.id, [{ file: `j${i}.png` }]);
    const journal = readFileSync(join(dir, JOURNAL_FILE), 'utf8');
    assert.ok(journal.includes('{"t":"job"'), 'journal not compacted');
    assert.ok(journal.split('\n').length < 181, 'journal not compacted');
    assert.equal(q.jobs().length, 60, 'no job is dropped: adding one again stays a no-op');
    const kept = q.jobs().map((j) => j.payload !== null);
    const stripped = kept.indexOf(true);
    assert.ok(stripped > 0 && kept.slice(stripped).every(Boolean), 'the oldest finished jobs lost their payload, the newest kept it');
    assert.deepEqual(q.add([{ id: 'j0', group: 'g', payload: 0 }]).map((a) => a.outcome), ['exists']);
    assert.equal(reader.history().length, 60);
    assert.equal(reader.history({ limit: 1 })[0].file, 'j59.png');
    assert.deepEqual(reader.jobs().map((j) => j.id), q.jobs().map((j) => j.id));
    assert.deepEqual(PersistentQueue.open(dir).history().length, 60);
    q.close();
    reader.close();
  });

  test('a lock left by a dead process is broken; a live holder makes others wait, then fail clearly', () => {
    const dir = freshDir();
    PersistentQueue.open(dir).close();
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: 2 ** 22 + 12345, host: hostname() }));
    const q = PersistentQueue.open(dir, { lockTimeoutMs: 200 });
    q.add([{ id: 'a', group: 'g', payload: 0 }]);
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid: process.ppid, host: hostname() }));
    assert.throws(() => q.add([{ id: 'b', group: 'g', payload: 0 }]), (e: Error) => e instanceof QueueLockedError && /locked by process \d+ .*delete that file/.test(e.message));
    rmSync(join(dir, LOCK_FILE));
    q.close();
  });
});

describe("the app's queue on the persistent queue", () => {
  const spec = (prompt: string) => ({ prompt, seed: 1, batch: 1, steps: 2, heads: 0, payload: { prompt } });

  test('runs jobs in order, records their images, and resumes a job interrupted by shutdown', async () => {
    const dir = freshDir();
    const ran: string[] = [];
    let release: (() => void) | undefined;
    const execute = (payload: { prompt: string }, run: { signal: AbortSignal }) =>
      new Promise<string[]>((done, fail) => {
        ran.push(payload.prompt);
        if (payload.prompt === 'slow') {
          run.signal.addEventListener('abort', () => fail(run.signal.reason));
          release = () => done([`${payload.prompt}.png`]);
        } else setTimeout(() => done([`${payload.prompt}.png`]), 5);
      });
    const states: string[][] = [];
    const q1 = new PersistentJobQueue(dir, execute, (s) => states.push(s.jobs.map((j) => j.status)), () => true);
    q1.enqueue(spec('first'));
    const slow = q1.enqueue(spec('slow'));
    const third = q1.enqueue(spec('third'));
    while (!release) await new Promise((r) => setTimeout(r, 5));
    assert.equal(q1.cancel(third.id), true);
    await q1.close(); // shutdown while 'slow' runs
    assert.deepEqual(ran, ['first', 'slow']);
    const after1 = q1.state().jobs.map((j) => [j.prompt, j.status]);
    assert.deepEqual(after1, [['first', 'done'], ['slow', 'queued'], ['third', 'cancelled']]);

    const q2 = new PersistentJobQueue(dir, execute, () => {}, () => true);
    while (q2.state().jobs.find((j) => j.id === slow.id)!.status !== 'running') await new Promise((r) => setTimeout(r, 5));
    release!();
    while (q2.state().jobs.find((j) => j.id === slow.id)!.status === 'running') await new Promise((r) => setTimeout(r, 5));
    const view = q2.state().jobs.find((j) => j.id === slow.id)!;
    assert.equal(view.status, 'done');
    assert.deepEqual(view.images, ['slow.png']);
    assert.deepEqual(q2.history().map((h) => h.file), ['slow.png', 'first.png']);
    assert.ok(states.length > 3);
    await q2.close();
  });
});
