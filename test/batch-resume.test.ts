// `studio batch` is resumable: a real batch process SIGKILLed after k images, then one stopped with
// Ctrl-C (SIGINT), then a third run: every image of the plan exists exactly once, no run redid a
// finished image, and no temporary file is left. Also: several engine hosts, and bad rows reported
// with their line numbers. The engine is a fake module loaded in the real engine hosts.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { batchCommand } from '../app/cli/batch-command.ts';
import { UsageError } from '../app/cli/exit-codes.ts';
import { readImageMetadata } from '../pipelines/metadata/index.ts';
import { studio, writeFakeEngine } from './batch-helpers.ts';

const work = mkdtempSync(join(tmpdir(), 'studio-batch-'));
after(() => rmSync(work, { recursive: true, force: true }));
const engine = writeFakeEngine(work);
const log = join(work, 'engine.jsonl');
const env = { STUDIO_TEST_ENGINE: engine, FAKE_LOG: log, FAKE_STEP_MS: '40', STUDIO_PLUGINS_DIR: join(work, 'no-plugins') };

const pngs = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.png')).sort() : []);
const logged = (): Array<{ thread: number; request: { seed: number; prompt: string } }> =>
  existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];

/** A watcher for studio(): polls `condition` every 5 ms from the first output on, then sends `signal`. */
function killWhen(condition: () => boolean, signal: NodeJS.Signals) {
  let watching = false;
  return (_: unknown, child: ChildProcess): void => {
    if (watching) return;
    watching = true;
    const timer = setInterval(() => {
      if (!condition()) return;
      clearInterval(timer);
      child.kill(signal);
    }, 5);
    child.once('close', () => clearInterval(timer));
  };
}

interface Summary {
  total: number;
  done: number;
  alreadyDone: number;
  ran: number;
  jobs: Array<{ id: string; seed: number; status: string; files: string[]; line: number }>;
}

describe('studio batch', () => {
  test('killed (SIGKILL), then cancelled (Ctrl-C), then rerun: every image exactly once', async () => {
    const prompts = ['a red fox', 'a blue bird', 'a cat', '# a comment line', '', 'a cat', 'a green frog', '--prompt "a tall tree" --seed 77', 'a small boat', 'a snowy hill', 'a quiet lake', 'a stone bridge'];
    writeFileSync(join(work, 'prompts.txt'), prompts.join('\n'));
    const out = join(work, 'out');
    const args = ['batch', 'prompts.txt', '--steps', '4', '--width', '64', '--height', '64', '--out', 'out'];

    // Run 1: SIGKILL as soon as 3 images are on disk (possibly before the manifest records the last).
    const first = await studio(args, { cwd: work, env, watch: killWhen(() => pngs(out).length >= 3, 'SIGKILL') });
    assert.equal(first.signal, 'SIGKILL', first.stderr);
    const afterKill = pngs(out);
    assert.ok(afterKill.length >= 3 && afterKill.length < 10, `${afterKill.length} images after the kill`);

    // Run 2: Ctrl-C after two more images are reported.
    const seedsBefore2 = new Set(afterKill.map((f) => Number(f.split('-')[1])));
    const runs1 = logged().length;
    const second = await studio([...args, '--json'], { cwd: work, env, watch: killWhen(() => pngs(out).length >= afterKill.length + 2, 'SIGINT') });
    assert.equal(second.code, 130, second.stderr);
    assert.match(second.stderr, /already done/);
    assert.match(second.stderr, /cancelled with \d+ of 10 jobs done; run the same command again/);
    const cancelled = JSON.parse(second.stdout) as Summary;
    assert.equal(cancelled.alreadyDone + cancelled.ran, cancelled.done);
    // At most one image on disk was not yet recorded when the kill came; only that one may be redone.
    const redone = logged().slice(runs1).filter(({ request }) => seedsBefore2.has(request.seed));
    assert.ok(redone.length <= 1, `run 2 redid ${redone.length} finished images`);

    // Run 3, with two engine hosts: finishes the rest.
    const afterCancel = pngs(out);
    assert.ok(afterCancel.length <= 7, `only ${10 - afterCancel.length} jobs left for two hosts`);
    const runs2 = logged().length;
    const third = await studio([...args, '--json', '--workers', '2'], { cwd: work, env });
    assert.equal(third.code, 0, third.stderr);
    const summary = JSON.parse(third.stdout) as Summary;
    assert.equal(summary.total, 10);
    assert.equal(summary.done, 10);
    assert.equal(summary.alreadyDone, afterCancel.length);
    assert.equal(summary.ran, 10 - afterCancel.length);
    const run3 = logged().slice(runs2);
    assert.equal(run3.length, 10 - afterCancel.length, 'run 3 generated only what was missing');
    assert.equal(new Set(run3.map((l) => l.thread)).size, 2, 'run 3 used two engine hosts');
    assert.deepEqual(cancelled.jobs.map((j) => j.id), summary.jobs.map((j) => j.id), 'job ids are the same on every run');

    // Exactly once: one file per job, named after the job, holding that job's request; nothing else.
    const files = pngs(out);
    assert.deepEqual(files, summary.jobs.flatMap((j) => j.files).sort());
    assert.equal(files.length, 10);
    assert.deepEqual(readdirSync(out).filter((f) => f.endsWith('.tmp')), []);
    for (const job of summary.jobs) {
      assert.equal(job.files.length, 1);
      assert.match(job.files[0], new RegExp(`^\\d{5}-${job.seed}-${job.id.slice(0, 8)}\\.png$`));
      const meta = readImageMetadata(readFileSync(join(out, job.files[0])), job.files[0]);
      assert.equal(meta.studio?.request.seed, job.seed);
    }
    const cats = summary.jobs.filter((j) => j.line === 3 || j.line === 6);
    assert.notEqual(cats[0].seed, cats[1].seed, 'a repeated prompt gets its own seed');
    assert.equal(summary.jobs.find((j) => j.line === 8)!.seed, 77);
    const journal = readFileSync(join(out, '.studio-queue.jsonl'), 'utf8').trim().split('\n').slice(1).map((l) => JSON.parse(l));
    for (const job of summary.jobs) assert.equal(journal.filter((e) => e.t === 'done' && e.id === job.id).length, 1, `job ${job.id} recorded done once`);
  });

  test('bad rows are all reported with file:line before anything runs (in-process)', async () => {
    const bad = join(work, 'bad');
    const csv = join(work, 'rows.csv');
    const rejects = async (lines: string[], ...messages: RegExp[]) => {
      writeFileSync(csv, lines.join('\n'));
      await assert.rejects(batchCommand([csv, '--out', bad]), (e: Error) => {
        assert.ok(e instanceof UsageError, e.message);
        for (const m of messages) assert.match(e.message, m);
        assert.doesNotMatch(e.message, /rows\.csv:2:/);
        return true;
      });
    };
    await rejects(['prompt,cfg,bogus,out', 'a fine row,5,,', 'x,5,1,'], /rows\.csv:3: "bogus" is not a generate option/);
    await rejects(['prompt,cfg,out', 'a fine row,5,', 'x,5,here'], /rows\.csv:3: "out" cannot be set per row/);
    await rejects(
      ['prompt,cfg,steps,sampler', 'a fine row,5,4,', 'bad cfg,lots,4,', '"quoted, with comma",5,0,', 'unknown sampler,5,4,dpm_fast', '"unclosed'],
      /rows\.csv:6: a quoted field is not closed/,
    );
    await rejects(
      ['prompt,cfg,steps,sampler', 'a fine row,5,4,', 'bad cfg,lots,4,', '"quoted, with comma",5,0,', 'unknown sampler,5,4,dpm_fast'],
      /rows\.csv:3: --cfg: expected a number, got "lots"/,
      /rows\.csv:4: --steps: must be at least 1/,
      /rows\.csv:5: --sampler: must be one of/,
    );
    writeFileSync(join(work, 'rows.jsonl'), '{"prompt": "ok"}\n{"prompt": "x", "width": 500}\n[1, 2]\n{"prompt": "y", "clipSkip": 0}\n');
    await assert.rejects(batchCommand([join(work, 'rows.jsonl'), '--out', bad]), /rows\.jsonl:3: expected a JSON object/);
    writeFileSync(join(work, 'rows.jsonl'), '{"prompt": "ok"}\n{"prompt": "x", "width": 500}\n{"prompt": "y", "clipSkip": 0}\n');
    await assert.rejects(batchCommand([join(work, 'rows.jsonl'), '--out', bad]), /rows\.jsonl:2: --width: must be a multiple of 8[\s\S]*rows\.jsonl:3: --clip-skip: must be at least 1/);
    await assert.rejects(batchCommand(['--prompt', 'x', '--x', 'cfg=3,oops', '--out', bad]), /options \(cfg=oops\): --cfg: expected a number/);
    await assert.rejects(batchCommand(['--prompt', 'x', '--x', 'width=64', '--out', bad]), /--x: cannot sweep "width"/);
    assert.equal(existsSync(bad), false, 'nothing ran');
  });
});
