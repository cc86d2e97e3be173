// A Redis-backed queue as the studio shows it (`studio queue status`, the app's panel): data only.
import { z } from 'zod';

export const ModelQueueStatusSchema = z.object({
  /** The BullMQ queue's name. */
  name: z.string(),
  /** The model its jobs load, in words. */
  model: z.string(),
  counts: z.object({ waiting: z.int(), active: z.int(), delayed: z.int(), completed: z.int(), failed: z.int() }),
  /** Names of the workers taking jobs from it. */
  workers: z.array(z.string()),
});

export const RedisQueueStatusSchema = z.object({
  queue: z.string(),
  models: z.array(ModelQueueStatusSchema),
  /** Jobs completed, all time. */
  completions: z.int(),
});

/** What the app's panel shows: nothing when the studio was started without --redis. */
export const RedisQueueViewSchema = z.object({
  configured: z.boolean(),
  /** The server, password hidden. */
  redis: z.string().optional(),
  status: RedisQueueStatusSchema.optional(),
  /** Why there is no status now (Redis unreachable, …). */
  error: z.string().optional(),
});

export type ModelQueueStatus = z.infer<typeof ModelQueueStatusSchema>;
export type RedisQueueStatus = z.infer<typeof RedisQueueStatusSchema>;
export type RedisQueueView = z.infer<typeof RedisQueueViewSchema>;
