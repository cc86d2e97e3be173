// The engine host: jobs run off the main thread, one at a time, with progress, cancellation, and a
// host that dies being restarted with the queue kept. Real workers, real child processes, real ORT.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EngineClient, HostCrashedError, JobFailedError, type HostEvent } from '../pipelines/host/client.ts';
import { JobCancelledError } from '../pipelines/host/jobs.ts';
import { processHost, workerHost, type HostLauncher } from '../pipelines/host/launchers.ts';
import { ClientMessage, HostMessage, parseMessage } from '../pipelines/host/protocol.ts';
import type { jobs } from './runtime-jobs.ts';

const jobModules = [new URL('./runtime-jobs.ts', import.meta.url)];

function client(host: HostLauncher, extra: { cancelGraceMs?: number; events?: HostEvent[] } = {}) {
  return new EngineClient<typeof jobs>({ host, jobModules, cancelGraceMs: extra.cancelGraceMs, onEvent: (e) => extra.events?.push(e) });
}

// y ← 2y + 1 from 0, `steps` times.
const expectedY0 = (steps: number) => 2 ** steps - 1;

for (const [kind, launcher] of [['worker', workerHost], ['child process', processHost]] as const) {
  describe(`engine host in a ${kind}`, () => {
    test('runs a job off the main thread with progress and a typed result', async () => {
      const c = client(launcher());
      try {
        const progress: number[] = [];
        const r = await c.run('test.steps', { steps: 4 }, { onProgress: (p) => progress.push(p.step ?? -1) });
        assert.equal(r.y0, expectedY0(4));
        assert.deepEqual(progress, [1, 2, 3, 4]);
        if (kind === 'child process') assert.notEqual(r.pid, process.pid);
        const info = await c.run('host.info', {});
        assert.equal(info.sessions, 1, 'the step graph stays in the host session cache');
        assert.equal(info.mallocTrimThreshold, kind === 'child process' ? '0' : (process.env.MALLOC_TRIM_THRESHOLD_ ?? null));
      } finally {
        await c.close();
      }
    });

    test('runs queued jobs one at a time, in order', async () => {
      const c = client(launcher());
      try {
        const log: string[] = [];
        const runs = ['a', 'b', 'c'].map((name, i) =>
          c.run('test.steps', { steps: 2 + i, pauseMs: 5 }, { onProgress: (p) => log.push(`${name}${p.step}`) }).then((r) => {
            log.push(`${name}=${r.y0}`);
          }),
        );
        await Promise.all(runs);
        assert.deepEqual(log, ['a1', 'a2', 'a=3', 'b1', 'b2', 'b3', 'b=7', 'c1', 'c2', 'c3', 'c4', 'c=15']);
      } finally {
        await c.close();
      }
    });

    test('cancels a running job between steps, and a queued job before it starts', async () => {
      const c = client(launcher());
      try {
        const running = new AbortController();
        const queued = new AbortController();
        let lastStep = 0;
        const a = c.run('test.steps', { steps: 1000, pauseMs: 10 }, {
          signal: running.signal,
          onProgress: (p) => {
            lastStep = p.step ?? 0;
            if (lastStep === 3) running.abort();
          },
        });
        const b = c.run('test.steps', { steps: 1 }, { signal: queued.signal });
        queued.abort();
        await assert.rejects(b, (e: Error) => e instanceof JobCancelledError && /before it started/.test(e.message));
        await assert.rejects(a, (e: Error) => e instanceof JobCancelledError && /"test.steps" was cancelled/.test(e.message));
        assert.ok(lastStep >= 3 && lastStep < 10, `stopped at step ${lastStep}, soon after the cancel at step 3`);
        assert.equal((await c.run('test.steps', { steps: 2 })).y0, expectedY0(2), 'the host goes on after a cancel');
      } finally {
        await c.close();
      }
    });

    test('a host that crashes mid-job is restarted; the lost job says so and the queue still runs', async () => {
      const events: HostEvent[] = [];
      const c = client(launcher(), { events });
      try {
        const first = await c.run('test.steps', { steps: 1 });
        const crashing = c.run('test.crash', { afterSteps: 2 });
        const after = c.run('test.steps', { steps: 3 });
        await assert.rejects(crashing, (e: Error) => e instanceof HostCrashedError && /simulated crash|exited with code 1/.test(e.message) && /"test.crash"/.test(e.message));
        const r = await after;
        assert.equal(r.y0, expectedY0(3));
        if (kind === 'child process') assert.notEqual(r.pid, first.pid, 'a fresh host process ran the queued job');
        assert.deepEqual(events.map((e) => e.type), ['ready', 'exited', 'ready']);
        assert.equal(events[1].type === 'exited' && events[1].lostJob, 'test.crash');
      } finally {
        await c.close();
      }
    });

    test('a job that does not stop within the cancel grace period is stopped by restarting the host', async () => {
      const c = client(launcher(), { cancelGraceMs: 200 });
      try {
        const ac = new AbortController();
        const hung = c.run('test.hang', {}, { signal: ac.signal, onProgress: () => ac.abort() });
        const next = c.run('test.steps', { steps: 2 });
        await assert.rejects(hung, (e: Error) => e instanceof JobCancelledError && /did not stop within 200 ms/.test(e.message));
        assert.equal((await next).y0, expectedY0(2));
      } finally {
        await c.close();
      }
    });
  });
}

test('a child host killed from outside (SIGKILL) mid-job: the job reports it, the next job runs in a new process', async () => {
  const c = client(processHost());
  try {
    let killedPid: number | undefined;
    const victim = c.run('test.steps', { steps: 1000, pauseMs: 10 }, {
      onProgress: (p) => {
        if (p.step === 2 && !killedPid) {
          killedPid = c.hostPid!;
          process.kill(killedPid, 'SIGKILL');
        }
      },
    });
    const next = c.run('test.steps', { steps: 3 });
    await assert.rejects(victim, (e: Error) => e instanceof HostCrashedError && /was killed by SIGKILL while running job "test.steps"/.test(e.message) && /1 queued job/.test(e.message));
    const r = await next;
    assert.equal(r.y0, expectedY0(3));
    assert.ok(killedPid && r.pid !== killedPid);
  } finally {
    await c.close();
  }
});

test('job errors carry the job name; bad input is refused by the job schema', async () => {
  const c = client(workerHost());
  try {
    await assert.rejects(c.run('test.steps', { steps: -1 }), (e: Error) => e instanceof JobFailedError && /bad input for job "test.steps"/.test(e.message) && /steps/.test(e.message));
    await assert.rejects(c.run('no.such.job' as 'test.steps', { steps: 1 }), (e: Error) => /unknown job "no.such.job".*test.steps/.test(e.message));
  } finally {
    await c.close();
  }
});

test('a job module that exports no jobs fails every job with a clear message instead of restarting forever', async () => {
  const bad = new EngineClient({ host: workerHost(), jobModules: [new URL('./fixtures.ts', import.meta.url)] });
  try {
    await assert.rejects(bad.run('host.info', {}), /could not load its jobs: job module .*fixtures\.ts does not export `jobs`/);
  } finally {
    await bad.close();
  }
});

test('a host that cannot start fails the queue after 3 attempts', async () => {
  const events: HostEvent[] = [];
  const c = new EngineClient({ host: processHost({ env: { NODE_OPTIONS: '--no-such-node-flag' } }), onEvent: (e) => events.push(e) });
  try {
    await assert.rejects(c.run('host.info', {}), /failed to start 3 times; it last exited with code 9/);
    assert.equal(events.filter((e) => e.type === 'exited').length, 3);
  } finally {
    await c.close();
  }
});

test('messages are validated at the boundary', () => {
  assert.deepEqual(parseMessage(ClientMessage, { type: 'cancel', id: '7' }, 'engine client'), { type: 'cancel', id: '7' });
  assert.throws(() => parseMessage(ClientMessage, { type: 'run', id: '', job: 'x' }, 'engine client'), /malformed message from the engine client:[\s\S]*id/);
  assert.throws(() => parseMessage(HostMessage, { type: 'progress', id: '1', progress: { step: -2 } }, 'engine host'), /malformed message from the engine host:[\s\S]*step/);
  assert.throws(() => parseMessage(HostMessage, { type: 'shout' }, 'engine host'), /malformed message/);
});

test('an input that cannot cross to the host fails only its own job', async () => {
  const c = client(workerHost());
  try {
    const bad = c.run('test.steps', { steps: 1, n: (() => 1) as unknown as number });
    const good = c.run('test.steps', { steps: 2 });
    await assert.rejects(bad, /job "test.steps": its input cannot be sent to the engine host: .*could not be cloned/);
    assert.equal((await good).y0, expectedY0(2));
  } finally {
    await c.close();
  }
});
