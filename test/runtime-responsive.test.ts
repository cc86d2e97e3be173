// The reason the engine lives in a host: ORT's run is a blocking native call. The same heavy graph
// run on the main thread stalls its event loop; run in the host it does not.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { EngineClient } from '../pipelines/host/client.ts';
import { workerHost } from '../pipelines/host/launchers.ts';
import { Session, tensor } from '../pipelines/runtime/session.ts';
import { relL2 } from './fixtures.ts';
import { heavyGraph, heavyInput, type jobs } from './runtime-jobs.ts';

// 12 × (1024² MatMul + Tanh) ≈ 26 GFLOP: about half a second on one thread.
const N = 1024;
const LAYERS = 12;
const RESPONSIVE_MS = 150;

/** Runs `work` while a 10 ms timer ticks on this thread; returns the longest the timer was held up. */
async function longestStall<R>(work: () => Promise<R>): Promise<{ result: R; stallMs: number }> {
  let last = performance.now();
  let stallMs = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    stallMs = Math.max(stallMs, now - last - 10);
    last = now;
  }, 10);
  try {
    const result = await work();
    await sleep(25); // let the timer see a stall that ended with the work
    return { result, stallMs };
  } finally {
    clearInterval(timer);
  }
}

test(`the main thread's event loop stays responsive (< ${RESPONSIVE_MS} ms) while the host runs a heavy graph that stalls it when run here`, async () => {
  const c = new EngineClient<typeof jobs>({ host: workerHost(), jobModules: [new URL('./runtime-jobs.ts', import.meta.url)] });
  let session: Session | undefined;
  try {
    await c.run('test.heavy', { n: N, layers: LAYERS, runs: 1 }); // host start and session creation
    const inHost = await longestStall(() => c.run('test.heavy', { n: N, layers: LAYERS, runs: 3 }));

    session = await Session.create(heavyGraph(N, LAYERS), { intraOpThreads: 1 });
    const s = session;
    const here = await longestStall(async () => (await s.run({ x: tensor(heavyInput(N), [N, N]) })).y.data as Float32Array);

    assert.ok(relL2(inHost.result.y, here.result) < 1e-6, 'the host ran the same computation');
    assert.ok(here.stallMs > RESPONSIVE_MS, `one run on the main thread stalled it ${here.stallMs.toFixed(0)} ms (the graph must be heavy enough to show it)`);
    assert.ok(inHost.stallMs < RESPONSIVE_MS, `3 runs in the host stalled the main thread at most ${inHost.stallMs.toFixed(0)} ms`);
  } finally {
    await session?.release();
    await c.close();
  }
});
