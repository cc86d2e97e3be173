// The app's view of a Redis queue: the studio's `redisQueue` API method against a real redis-server.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { dispatchCall } from '../app/server/dispatch.ts';
import { Studio } from '../app/server/studio.ts';
import { apiMethods } from '../pipelines/jobs/api-studio.ts';
import { JOB_NAME } from '../pipelines/jobs/redis/job-data.ts';
import { registerModelQueue } from '../pipelines/jobs/redis/names.ts';
import { freePort, RedisServer } from './redis-server.ts';

function studioWith(redis?: { url: string; queue: string }) {
  const dir = mkdtempSync(join(tmpdir(), 'studio-redis-view-'));
  const studio = new Studio({ modelsDir: join(dir, 'models'), outputsDir: join(dir, 'outputs'), version: 'test', shell: 'browser', redis });
  return { studio, dispose: async () => (await studio.close(), rmSync(dir, { recursive: true, force: true })) };
}

async function view(studio: Studio) {
  const outcome = await dispatchCall(studio, 'redisQueue', {});
  assert.ok(outcome.ok, JSON.stringify(outcome));
  return apiMethods.redisQueue.result.parse(outcome.result);
}

test('without --redis the studio has no Redis queue to show', async () => {
  const { studio, dispose } = studioWith();
  try {
    assert.deepEqual(await view(studio), { configured: false });
  } finally {
    await dispose();
  }
});

test('the studio shows each model queue with its counts, and says when Redis cannot be reached', { timeout: 60_000 }, async () => {
  const port = await freePort();
  const { studio, dispose } = studioWith({ url: `redis://127.0.0.1:${port}`, queue: 'ui' });
  let server: RedisServer | undefined;
  try {
    const down = await view(studio);
    assert.equal(down.configured, true);
    assert.equal(down.status, undefined);
    assert.ok(down.error, 'an unreachable Redis is explained');

    server = await RedisServer.start(port);
    const redis = new Redis(server.url, { maxRetriesPerRequest: null });
    const name = await registerModelQueue(redis, 'ui', { model: 'emoji-dit' });
    const queue = new Queue(name, { connection: redis });
    await queue.add(JOB_NAME, { request: {} as never }, { jobId: 'one' });
    await queue.add(JOB_NAME, { request: {} as never }, { jobId: 'two' });
    await queue.close();
    redis.disconnect();

    let up = await view(studio);
    for (let i = 0; i < 100 && !up.status; i++) {
      await new Promise((r) => setTimeout(r, 100));
      up = await view(studio);
    }
    assert.equal(up.redis, server.url);
    assert.deepEqual(up.status, {
      queue: 'ui',
      models: [{ name, model: 'emoji-dit', counts: { waiting: 2, active: 0, delayed: 0, completed: 0, failed: 0 }, workers: [] }],
      completions: 0,
    });
  } finally {
    await dispose();
    await server?.dispose();
  }
});
