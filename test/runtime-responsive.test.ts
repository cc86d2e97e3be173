// The reason the engine lives in a host: onnxruntime-node's run is a blocking native call. The same heavy graph
// run on the main thread through it stalls the event loop; run in the host it does not. The studio's own CPU session
// (native, runs on koffi's worker threads) does not stall it either.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EngineClient } from '../pipelines/host/client.ts';
import { workerHost } from '../pipelines/host/launchers.ts';
import { Session, tensor } from '../pipelines/runtime/session.ts';
import { relL2 } from './fixtures.ts';
import { heavyGraph, heavyInput, type jobs } from './runtime-jobs.ts';

// 12 × (1024² MatMul + Tanh) ≈ 26 GFLOP: about half a second on one thread.
const N = 1024;
const LAYERS = 12;

/**
 * Runs `work` while the event loop spins a setImmediate chain on this thread, and counts the turns
 * it got before the work finished. No clock is read: a blocked loop gets no turns however fast or
 * slow the machine is, a free one gets a turn per loop iteration while the work is in flight.
 */
async function loopTurnsDuring<R>(work: () => Promise<R>): Promise<{ result: R; turns: number }> {
  let turns = 0;
  let spinning = true;
  const spin = () => {
    if (!spinning) return;
    turns++;
    setImmediate(spin);
  };
  setImmediate(spin);
  try {
    const result = await work();
    return { result, turns };
  } finally {
    spinning = false;
  }
}

test('the main thread keeps turning its event loop while the host runs a heavy graph that blocks it when run here', async () => {
  const c = new EngineClient<typeof jobs>({ host: workerHost(), jobModules: [new URL('./runtime-jobs.ts', import.meta.url)] });
  let session: Session | undefined;
  let native: Session | undefined;
  try {
    await c.run('test.heavy', { n: N, layers: LAYERS, runs: 1 }); // host start and session creation
    const inHost = await loopTurnsDuring(() => c.run('test.heavy', { n: N, layers: LAYERS, runs: 3 }));

    session = await Session.create(heavyGraph(N, LAYERS), { intraOpThreads: 1, cpuSession: 'binding' });
    const s = session;
    const here = await loopTurnsDuring(async () => (await s.run({ x: tensor(heavyInput(N), [N, N]) })).y.data as Float32Array);
    native = await Session.create(heavyGraph(N, LAYERS), { intraOpThreads: 1, cpuSession: 'native' });
    const n = native;
    const nativeHere = await loopTurnsDuring(async () => (await n.run({ x: tensor(heavyInput(N), [N, N]) })).y.data as Float32Array);

    assert.ok(relL2(inHost.result.y, here.result) < 1e-6, 'the host ran the same computation');
    assert.ok(relL2(nativeHere.result, here.result) < 1e-6, 'the native session ran the same computation');
    assert.ok(here.turns <= 3, `one run on the main thread blocked its loop (it turned ${here.turns} times during the run)`);
    assert.ok(inHost.turns >= 100, `3 runs in the host left the main loop free (it turned ${inHost.turns} times during them)`);
    assert.ok(nativeHere.turns >= 100, `a native session's run left the main loop free (it turned ${nativeHere.turns} times during it)`);
  } finally {
    await session?.release();
    await native?.release();
    await c.close();
  }
});
