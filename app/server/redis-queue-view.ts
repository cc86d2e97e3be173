// The app's view of a Redis-backed queue (`studio serve --redis URL`): its model queues, counts and
// workers. The connection is made on first use and keeps reconnecting; until Redis answers, the view
// says why there is nothing to show instead of making the UI wait.
import type { Redis } from 'ioredis';
import type { RedisQueueView } from '../../pipelines/jobs/api-redis.ts';
import { queueStatus } from '../../pipelines/jobs/redis/admin.ts';
import { connectRedis, redisLabel } from '../../pipelines/jobs/redis/connection.ts';

export interface RedisQueueTarget {
  url: string;
  queue: string;
}

export class RedisQueueWatch {
  private connecting?: Promise<Redis>;
  private redis?: Redis;
  private lastProblem = 'connecting';

  constructor(private readonly target?: RedisQueueTarget) {}

  async view(): Promise<RedisQueueView> {
    if (!this.target) return { configured: false };
    const redis = redisLabel(this.target.url);
    this.connecting ??= connectRedis(this.target.url, { name: 'studio-serve', log: (line) => (this.lastProblem = line) }).then((r) => (this.redis = r));
    if (!this.redis) return { configured: true, redis, error: this.lastProblem };
    try {
      return { configured: true, redis, status: await queueStatus(this.redis, this.target.queue) };
    } catch (e) {
      return { configured: true, redis, error: (e as Error).message };
    }
  }

  close(): void {
    this.redis?.disconnect();
    void this.connecting?.then((r) => r.disconnect(), () => {});
  }
}
