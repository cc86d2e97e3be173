// Where a batch's jobs live in Redis. Each model has its own BullMQ queue, `<queue>.<model>-<hash>`:
// a worker keeps one model loaded and takes jobs from that model's queue until it is empty, and only
// then loads another (open-source BullMQ has no per-worker job affinity; its job groups are a paid
// add-on, and priorities are global, so they cannot say "this worker prefers model A").
// The model queues of a queue are listed in a Redis hash, so workers, `studio queue` and the server
// find them without scanning keys.
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import type { Redis } from 'ioredis';
import type { GenerateRequest } from '../api.ts';

export const DEFAULT_QUEUE = 'studio';

/** What decides the weights a worker loads for a request. */
export interface ModelKey {
  model?: string;
  modelsDir?: string;
  vae?: string;
}

export function modelKeyOf(request: GenerateRequest): ModelKey {
  return { model: request.model, modelsDir: request.modelsDir, vae: request.vae };
}

export function modelKeyLabel(key: ModelKey): string {
  return `${key.model ?? 'default model'}${key.vae ? ` + VAE ${key.vae}` : ''}`;
}

/** BullMQ refuses ':' in queue names; Redis keys stay readable with letters, digits, '.', '_' and '-'. */
export function checkQueueName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name)) {
    throw new Error(`--queue ${JSON.stringify(name)}: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit`);
  }
  return name;
}

export function modelQueueName(queue: string, key: ModelKey): string {
  const hash = createHash('sha256').update(JSON.stringify([key.model ?? null, key.modelsDir ?? null, key.vae ?? null])).digest('hex').slice(0, 10);
  const stem = key.model === undefined ? 'default' : basename(key.model).replace(/\.[^.]*$/, '').replace(/[^A-Za-z0-9_-]+/g, '_').slice(0, 32);
  return `${queue}.${stem}-${hash}`;
}

/** The Redis hash listing a queue's model queues: field = model queue name, value = its ModelKey as JSON. */
export const modelsKey = (queue: string) => `studio:${queue}:models`;
/** How many times each job was completed (the proof that none ran to completion twice). */
export const completionsKey = (queue: string) => `studio:${queue}:completions`;

export async function registerModelQueue(redis: Redis, queue: string, key: ModelKey): Promise<string> {
  const name = modelQueueName(queue, key);
  await redis.hset(modelsKey(queue), name, JSON.stringify(key));
  return name;
}

export async function listModelQueues(redis: Redis, queue: string): Promise<Map<string, ModelKey>> {
  const all = await redis.hgetall(modelsKey(queue));
  return new Map(Object.entries(all).map(([name, key]) => [name, JSON.parse(key) as ModelKey]));
}
