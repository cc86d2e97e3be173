// The options every Redis-backed command shares, and how it connects.
import type { Redis } from 'ioredis';
import { checkRedisUrl, connectRedis } from '../../pipelines/jobs/redis/connection.ts';
import { checkQueueName, DEFAULT_QUEUE } from '../../pipelines/jobs/redis/names.ts';
import { UsageError } from './exit-codes.ts';

export const REDIS_OPTIONS = {
  redis: { type: 'string' },
  queue: { type: 'string' },
} as const;

export const REDIS_HELP = `  --redis URL            The Redis server holding the queue, e.g. redis://127.0.0.1:6379
  --queue NAME           Queue name (default ${DEFAULT_QUEUE}); each model gets its own queue NAME.<model>-<hash>`;

export interface RedisTarget {
  url: string;
  queue: string;
}

export function redisTarget(values: { redis?: string; queue?: string }): RedisTarget {
  if (values.redis === undefined) throw new UsageError('--redis URL is required, e.g. --redis redis://127.0.0.1:6379');
  try {
    checkRedisUrl(values.redis);
    return { url: values.redis, queue: checkQueueName(values.queue ?? DEFAULT_QUEUE) };
  } catch (e) {
    throw e instanceof Error && !(e instanceof UsageError) ? new UsageError(e.message) : e;
  }
}

/** Connects, printing each failed attempt on stderr; `maxAttempts` undefined waits for Redis forever. */
export function connectForCommand(command: string, target: RedisTarget, maxAttempts?: number): Promise<Redis> {
  return connectRedis(target.url, { maxAttempts, name: command.replace(/\s+/g, '-'), log: (line) => process.stderr.write(`${command}: ${line}\n`) });
}
