// Reordering the persistent queue: a queued job moved before another runs before it, the new order
// survives a restart (journal replay) and compaction, and jobs that are not queued cannot be moved.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { JOURNAL_FILE, PersistentJobQueue, PersistentQueue } from '../pipelines/queue/index.ts';

const work = mkdtempSync(join(tmpdir(), 'studio-queue-move-'));
after(() => rmSync(work, { recursive: true, force: true }));
let n = 0;
const freshDir = () => join(work, `q${n++}`);

const queuedIds = (q: PersistentQueue) => q.jobs((j) => j.status === 'queued').map((j) => j.id);

describe('queue reorder', () => {
  test('move puts a queued job before another; the order survives reopening and compaction', () => {
    const dir = freshDir();
    const q = PersistentQueue.open(dir, { compactAfterLines: 1_000_000 });
    q.add(['a', 'b', 'c', 'd'].map((id) => ({ id, group: 'g', payload: id })));
    assert.equal(q.move('d', 'b'), true);
    assert.deepEqual(queuedIds(q), ['a', 'd', 'b', 'c']);
    assert.equal(q.move('a', 'c'), true);
    assert.deepEqual(queuedIds(q), ['d', 'b', 'a', 'c']);
    q.close();

    const reopened = PersistentQueue.open(dir, { compactAfterLines: 1 });
    assert.deepEqual(queuedIds(reopened), ['d', 'b', 'a', 'c'], 'the journal replays the moves');
    assert.equal(reopened.claim()?.id, 'd', 'the first job in the new order runs first');
    reopened.complete('d', []);
    // Enough changes for the journal to be compacted into whole-job lines.
    reopened.add([{ id: 'x', group: 'g', payload: 'x' }]);
    for (let i = 0; i < 8; i++) {
      reopened.cancel('x', 'not needed');
      reopened.requeue('x', 'asked again');
    }
    reopened.cancel('x', 'not needed');
    reopened.close();
    const journal = readFileSync(join(dir, JOURNAL_FILE), 'utf8');
    assert.match(journal, /"t":"job"/, 'the journal was compacted');
    assert.doesNotMatch(journal, /"t":"move"/);
    assert.deepEqual(queuedIds(PersistentQueue.open(dir)), ['b', 'a', 'c'], 'compaction keeps the order');
  });

  test('only queued jobs move: a running or finished job, or an unknown id, is refused', () => {
    const q = PersistentQueue.open(freshDir());
    q.add(['a', 'b', 'c'].map((id) => ({ id, group: 'g', payload: id })));
    const running = q.claim()!;
    assert.equal(running.id, 'a');
    assert.equal(q.move('c', 'a'), false, 'not before a running job');
    assert.equal(q.move('a', 'b'), false, 'a running job stays');
    assert.equal(q.move('zz', 'b'), false);
    q.complete('a', []);
    assert.equal(q.move('a', 'b'), false, 'a finished job stays');
    assert.deepEqual(queuedIds(q), ['b', 'c']);
    q.close();
  });

  test("the app's queue moves a job up or down among its queued neighbours and runs them in that order", async () => {
    const ran: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const states: string[][] = [];
    const q = new PersistentJobQueue<string>(
      freshDir(),
      async (payload) => {
        if (payload === 'first') await gate; // keeps the others queued while they are reordered
        ran.push(payload);
        return [];
      },
      (s) => states.push(s.jobs.map((j) => j.prompt)),
      () => false,
    );
    const add = (prompt: string) => q.enqueue({ prompt, seed: 0, batch: 1, heads: 0, payload: prompt }).id;
    const first = add('first');
    const second = add('second');
    const third = add('third');
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(q.state().jobs.find((j) => j.id === first)?.status, 'running');
    assert.equal(q.move(first, 'down'), false, 'the running job is not reordered');
    assert.equal(q.move(second, 'up'), false, 'already the first queued job');
    assert.equal(q.move(third, 'down'), false, 'already the last');
    assert.equal(q.move(third, 'up'), true);
    assert.deepEqual(q.state().jobs.map((j) => j.prompt), ['first', 'third', 'second'], 'listed in run order');
    assert.deepEqual(states.at(-1), ['first', 'third', 'second'], 'the change was announced');
    assert.equal(q.move(third, 'down'), true);
    assert.equal(q.move(third, 'up'), true);
    release();
    while (ran.length < 3) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(ran, ['first', 'third', 'second']);
    await q.close();
  });
});
