// `studio queue status|retry-failed|drain` and the app's queue panel: the model queues of a queue,
// their job counts and the workers taking from them.
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ModelQueueStatus, RedisQueueStatus } from '../api-redis.ts';
import { completionsKey, listModelQueues, modelKeyLabel } from './names.ts';

export type { ModelQueueStatus, RedisQueueStatus };

async function eachModelQueue<T>(redis: Redis, queue: string, fn: (q: Queue, model: string) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (const [name, key] of await listModelQueues(redis, queue)) {
    const q = new Queue(name, { connection: redis });
    try {
      out.push(await fn(q, modelKeyLabel(key)));
    } finally {
      await q.close();
    }
  }
  return out;
}

export async function queueStatus(redis: Redis, queue: string): Promise<RedisQueueStatus> {
  const models = await eachModelQueue(redis, queue, async (q, model): Promise<ModelQueueStatus> => {
    const c = await q.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'completed', 'failed');
    // BullMQ names a worker's connection "<prefix>:<queue, base64>:w:<worker name>".
    const workers = (await q.getWorkers()).map((w) => String(w.rawname ?? '').split(':w:')[1] ?? String(w.addr)).sort();
    return { name: q.name, model, counts: { waiting: (c.waiting ?? 0) + (c.prioritized ?? 0), active: c.active ?? 0, delayed: c.delayed ?? 0, completed: c.completed ?? 0, failed: c.failed ?? 0 }, workers };
  });
  const completions = Object.values(await redis.hgetall(completionsKey(queue))).reduce((n, v) => n + Number(v), 0);
  return { queue, models, completions };
}

/** Puts every failed job back in its queue; returns how many. */
export async function retryFailed(redis: Redis, queue: string): Promise<number> {
  const counts = await eachModelQueue(redis, queue, async (q) => {
    const n = await q.getFailedCount();
    await q.retryJobs({ state: 'failed' });
    return n;
  });
  return counts.reduce((a, b) => a + b, 0);
}

/** Removes the jobs not yet started (waiting and delayed); running jobs finish. Returns how many were removed. */
export async function drain(redis: Redis, queue: string): Promise<number> {
  const counts = await eachModelQueue(redis, queue, async (q) => {
    const n = await q.getJobCountByTypes('waiting', 'prioritized', 'delayed');
    await q.drain(true);
    return n;
  });
  return counts.reduce((a, b) => a + b, 0);
}
