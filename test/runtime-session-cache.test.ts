// The session cache: one session per (graph bytes, weight files, providers, options), LRU eviction,
// explicit release. Real sessions on the CPU provider.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { SafetensorsFile, writeSafetensors } from '../pipelines/io/safetensors.ts';
import { Graph } from '../pipelines/onnx/graph.ts';
import { add, matmul, mul } from '../pipelines/onnx/ops.ts';
import { SessionCache } from '../pipelines/runtime/session-cache.ts';
import { tensor, type Session } from '../pipelines/runtime/session.ts';

const dir = mkdtempSync(join(tmpdir(), 'studio-cache-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** y = x·k + c, built fresh on each call (so equal graphs are equal bytes, not the same object). */
function affine(k: number, c: number): Graph {
  const g = new Graph(`affine-${k}-${c}`);
  const x = g.input('x', 'float32', [2]);
  g.output(add(mul(x, k), c), 'y');
  return g;
}

const run = async (s: Session) => Array.from((await s.run({ x: tensor(Float32Array.of(1, 2), [2]) })).y.data as Float32Array);

test('the same graph built twice gets the same session; other options get another', async () => {
  const cache = new SessionCache();
  try {
    const a = await cache.get(affine(2, 1));
    const b = await cache.get(affine(2, 1));
    assert.equal(a, b);
    assert.deepEqual(cache.stats, { created: 1, hits: 1, released: 0 });
    assert.deepEqual(await run(a), [3, 5]);

    const other = await cache.get(affine(3, 1));
    const threads = await cache.get(affine(2, 1), { intraOpThreads: 1 });
    assert.notEqual(other, a);
    assert.notEqual(threads, a);
    assert.deepEqual(await run(other), [4, 7]);
    assert.equal(cache.size, 3);
  } finally {
    await cache.clear();
  }
});

test('least recently used sessions are released beyond the limit, with a clear error if used after', async () => {
  const cache = new SessionCache({ maxSessions: 2 });
  try {
    const a = await cache.get(affine(1, 1));
    const b = await cache.get(affine(1, 2));
    assert.equal(await cache.get(affine(1, 1)), a, 'a is now the most recently used');
    const c = await cache.get(affine(1, 3));
    assert.equal(cache.size, 2);
    assert.ok(b.released && !a.released && !c.released);
    await assert.rejects(run(b), /session for graph "affine-1-2" was released \(evicted from the session cache, which holds 2; raise maxSessions/);
    const b2 = await cache.get(affine(1, 2));
    assert.notEqual(b2, b);
    assert.deepEqual(await run(b2), [3, 4]);
    assert.ok(a.released, 'a was the least recently used when b came back');
    assert.deepEqual(cache.stats, { created: 4, hits: 1, released: 2 });
  } finally {
    await cache.clear();
  }
});

test('release() frees one session now; clear() frees all', async () => {
  const cache = new SessionCache();
  const a = await cache.get(affine(5, 0));
  const b = await cache.get(affine(6, 0));
  await cache.release(a);
  assert.ok(a.released && !b.released);
  assert.equal(cache.size, 1);
  await assert.rejects(run(a), /was released \(release\(\) was called\)/);
  assert.notEqual(await cache.get(affine(5, 0)), a, 'a released session is created again on the next get');
  await cache.clear();
  assert.ok(b.released);
  assert.equal(cache.size, 0);
});

test('a weight file changed in place is a new session (the key covers external data files)', async () => {
  const file = join(dir, 'w.safetensors');
  const write = (v: number) => writeSafetensors(file, { w: { dtype: 'F32', shape: [2, 2], data: Float32Array.of(v, 0, 0, v) } });
  const graph = () => {
    const g = new Graph('external');
    const x = g.input('x', 'float32', [1, 2]);
    g.output(matmul(x, g.external(SafetensorsFile.open(file).info('w'))), 'y');
    return g;
  };
  const cache = new SessionCache();
  try {
    write(2);
    const s1 = await cache.get(graph());
    assert.deepEqual(Array.from((await s1.run({ x: tensor(Float32Array.of(1, 2), [1, 2]) })).y.data as Float32Array), [2, 4]);
    write(3);
    utimesSync(file, new Date(), new Date(Date.now() + 5000)); // same size: the mtime must tell them apart
    const s2 = await cache.get(graph());
    assert.notEqual(s2, s1);
    assert.deepEqual(Array.from((await s2.run({ x: tensor(Float32Array.of(1, 2), [1, 2]) })).y.data as Float32Array), [3, 6]);
  } finally {
    await cache.clear();
  }
});

test('a session that fails to create is not cached', async () => {
  const cache = new SessionCache();
  const broken = () => {
    const g = new Graph('broken');
    const x = g.input('x', 'float32', [2]);
    g.output(g.node('NoSuchOp', [x], [{ dtype: 'float32', shape: [2] }])[0], 'y');
    return g;
  };
  await assert.rejects(cache.get(broken()), /no execution provider could run graph "broken": cpu: .*NoSuchOp/);
  assert.equal(cache.size, 0);
  assert.throws(() => new SessionCache({ maxSessions: 0 }), /maxSessions must be a positive integer, got 0/);
});
