// One Redis connection for BullMQ, with a clear message when Redis cannot be reached and reconnects
// with growing waits (0.5 s, 1 s, 2 s … 15 s), so a worker started before Redis, or across a Redis
// restart, carries on by itself.
import { Redis } from 'ioredis';

/** A --redis value that is not a redis:// or rediss:// URL. */
export class RedisUrlError extends Error {
  constructor(url: string, why: string) {
    super(`--redis ${JSON.stringify(url)}: ${why}; give a URL like redis://127.0.0.1:6379 (rediss:// for TLS, redis://:password@host:port/db)`);
    this.name = 'RedisUrlError';
  }
}

export function checkRedisUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RedisUrlError(url, 'not a URL');
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw new RedisUrlError(url, `the scheme is ${parsed.protocol.replace(':', '')}, not redis`);
  if (!parsed.hostname) throw new RedisUrlError(url, 'no host');
  return parsed;
}

/** The wait before reconnect attempt `attempt` (1-based). */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(15_000, 500 * 2 ** Math.max(0, attempt - 1));
}

/** The URL without its password, for messages. */
export function redisLabel(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.href.replace(/\/$/, '');
}

export interface RedisConnectOptions {
  /** Called with a readable line for each failed attempt and for the return of the connection. */
  log?: (line: string) => void;
  /** Failed attempts in a row before giving up (default: never give up). */
  maxAttempts?: number;
  /** Shown in Redis's CLIENT LIST. */
  name?: string;
}

/**
 * A connection as BullMQ needs it (no per-command retry limit: commands wait for the reconnect).
 * Resolves when Redis answers; rejects only after `maxAttempts` failed attempts.
 */
export async function connectRedis(url: string, o: RedisConnectOptions = {}): Promise<Redis> {
  checkRedisUrl(url);
  const label = redisLabel(url);
  let lastError = '';
  let attempts = 0;
  let wasReady = false;
  let giveUp: ((e: Error) => void) | undefined;
  const redis = new Redis(url, {
    maxRetriesPerRequest: null,
    connectionName: o.name,
    retryStrategy: (times) => {
      attempts = times;
      if (o.maxAttempts !== undefined && times >= o.maxAttempts) {
        giveUp?.(new Error(`cannot reach Redis at ${label} (${lastError}) after ${times} attempts; is redis-server running there and reachable from this machine?`));
        return null;
      }
      const wait = reconnectDelayMs(times);
      o.log?.(`cannot reach Redis at ${label} (${lastError}); is redis-server running there? Retrying in ${(wait / 1000).toFixed(1)} s (attempt ${times + 1})`);
      return wait;
    },
  });
  redis.on('error', (e: Error & { code?: string }) => {
    lastError = e.code ?? e.message;
  });
  redis.on('ready', () => {
    if (attempts > 0) o.log?.(`connected to Redis at ${label}${wasReady ? ' again' : ''} after ${attempts} failed attempt(s)`);
    attempts = 0;
    wasReady = true;
  });
  await new Promise<void>((resolve, reject) => {
    giveUp = (e) => {
      redis.disconnect();
      reject(e);
    };
    redis.once('ready', () => resolve());
  });
  giveUp = undefined;
  return redis;
}
