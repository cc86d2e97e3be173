// What travels through Redis: the job's data (a validated request) and its result (the PNG files with
// their metadata, base64, so a worker on another machine needs no shared disk). Results are checked
// with zod when they come back: a worker is another program, maybe another version.
import { z } from 'zod';
import { GenerateRequestSchema, type GenerateRequest } from '../api.ts';

export const JOB_NAME = 'generate';

export interface RemoteJobData {
  request: GenerateRequest;
}

export const RemoteJobDataSchema = z.object({ request: GenerateRequestSchema });

export const RemoteJobResultSchema = z.object({
  images: z
    .array(
      z.object({
        batchIndex: z.int().min(0),
        seed: z.int().min(0),
        width: z.int().min(1),
        height: z.int().min(1),
        /** The PNG file, metadata included, base64. */
        png: z.base64(),
      }),
    )
    .min(1),
  model: z.string(),
  ep: z.string(),
  worker: z.string(),
  ms: z.number().min(0),
});

export type RemoteJobResult = z.infer<typeof RemoteJobResultSchema>;

/** A progress report a worker publishes while it runs a job. */
export const RemoteProgressSchema = z.object({ phase: z.string(), step: z.number(), total: z.number() });
