// The app's Workers panel in Chromium: `studio serve --redis` with a real redis-server, jobs queued
// in it, and a real `studio worker` process taking them.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { GenerateRequestSchema } from '../pipelines/jobs/api.ts';
import { JOB_NAME } from '../pipelines/jobs/redis/job-data.ts';
import { modelKeyOf, registerModelQueue } from '../pipelines/jobs/redis/names.ts';
import { ARTIFACTS, browserSkipReason, ensureUiBuilt, openStudioPage, ROOT } from './e2e-harness.ts';
import { RedisServer } from './redis-server.ts';

test('the Workers panel shows the Redis queue, its jobs and the worker that runs them', { skip: browserSkipReason(), timeout: 120_000 }, async () => {
  await ensureUiBuilt();
  const redis = await RedisServer.start();
  const studio = await openStudioPage(mkdtempSync(join(tmpdir(), 'studio-e2e-redis-')), { viewportHeight: 900, timeoutMs: 30_000, redis: { url: redis.url, queue: 'ui' } });
  const worker = spawn(process.execPath, [join(ROOT, 'app', 'cli', 'studio.js'), 'worker', '--redis', redis.url, '--queue', 'ui', '--name', 'gpu-0'], { stdio: 'ignore' });
  try {
    const { page } = studio;
    const panel = page.getByRole('region', { name: 'Workers' });
    await panel.getByText('No batch has used this queue yet.').waitFor();

    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const request = GenerateRequestSchema.parse({ prompt: 'a smiling cat face', steps: 2, seed: 1 });
    const queue = new Queue(await registerModelQueue(connection, 'ui', modelKeyOf(request)), { connection });
    await queue.add(JOB_NAME, { request }, { jobId: 'one' });
    await queue.add(JOB_NAME, { request: { ...request, seed: 2 } }, { jobId: 'two' });
    await queue.close();
    connection.disconnect();

    await panel.getByText('workers: gpu-0').waitFor();
    await panel.getByText(/done 2 · failed 0/).waitFor({ timeout: 60_000 });
    await panel.getByText('1 worker', { exact: true }).waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'redis-workers-panel.png') });
    assert.deepEqual(studio.pageErrors, []);
  } finally {
    worker.kill('SIGKILL');
    await studio.close();
    await redis.dispose();
  }
});
