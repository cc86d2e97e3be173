// `studio batch … --redis URL`: the plan's jobs go to the model queues (job id = the request's hash,
// so a rerun adds nothing that is queued, running or done), then the results are collected as they
// come: each PNG written atomically under its planned name, exactly once (an existing file is never
// replaced), and the job removed from Redis only after its files are on disk. A job that vanished
// from Redis (restarted without persistence) is queued again; Redis errors are waited out.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Queue, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { writeNewFileAtomic } from '../../queue/atomic-write.ts';
import type { BatchPlan, PlannedJob } from '../batch/plan.ts';
import { removeStaleTemps, type BatchEvent, type JobReport } from '../batch/runner.ts';
import { writeContactSheets } from '../batch/sheets.ts';
import { JOB_NAME, RemoteJobResultSchema, type RemoteJobData, type RemoteJobResult } from './job-data.ts';
import { modelKeyOf, modelQueueName, registerModelQueue } from './names.ts';

export interface RemoteBatchOptions {
  redis: Redis;
  queue: string;
  out: string;
  plan: BatchPlan;
  signal: AbortSignal;
  /** Only enqueue; a later run of the same batch (without detach) collects the images. */
  detach?: boolean;
  onEvent?: (e: BatchEvent) => void;
  log?: (line: string) => void;
  pollMs?: number;
}

export interface RemoteBatchOutcome {
  jobs: JobReport[];
  alreadyDone: number;
  /** Jobs added to Redis by this run (the others were there already or done). */
  enqueued: number;
  /** Jobs whose images this run wrote. */
  ran: number;
  sheets: string[];
  cancelled: boolean;
  detached: boolean;
}

/** Attempts per job: one retry for a crash or a lost engine host; a refused request fails at once. */
const ATTEMPTS = 2;
const KEEP_UNCOLLECTED_S = 7 * 24 * 3600;
/** How often, in polls, pending jobs are checked for having vanished from Redis. */
const EXISTENCE_CHECK_EVERY = 10;

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

export async function runRemoteBatch(o: RemoteBatchOptions): Promise<RemoteBatchOutcome> {
  await mkdir(o.out, { recursive: true });
  removeStaleTemps(o.out);
  const onDisk = (job: PlannedJob) => job.files.every((f) => existsSync(join(o.out, f)));
  const pending = new Map(o.plan.jobs.filter((j) => !onDisk(j)).map((j) => [j.id, j]));
  const alreadyDone = o.plan.jobs.length - pending.size;
  o.onEvent?.({ type: 'planned', total: o.plan.jobs.length, alreadyDone });

  const queues = new Map<string, Queue<RemoteJobData, RemoteJobResult>>();
  const queueOf = new Map<string, Queue<RemoteJobData, RemoteJobResult>>();
  const failed = new Map<string, string>();
  let ran = 0;
  let enqueued = 0;
  let lastError = '';
  const report = (message: string) => {
    if (message !== lastError) o.log?.(message);
    lastError = message;
  };
  try {
    for (const job of pending.values()) {
      const key = modelKeyOf(job.request);
      const name = modelQueueName(o.queue, key);
      if (!queues.has(name)) {
        await registerModelQueue(o.redis, o.queue, key);
        queues.set(name, new Queue(name, { connection: o.redis }));
      }
      queueOf.set(job.id, queues.get(name)!);
    }
    const add = (job: PlannedJob) =>
      queueOf.get(job.id)!.add(JOB_NAME, { request: job.request }, { jobId: job.id, attempts: ATTEMPTS, backoff: { type: 'fixed', delay: 1000 }, removeOnComplete: { age: KEEP_UNCOLLECTED_S }, removeOnFail: false });

    for (const job of pending.values()) {
      const existing = await queueOf.get(job.id)!.getJob(job.id);
      if (!existing) {
        await add(job);
        enqueued++;
      } else if ((await existing.getState()) === 'failed') {
        // Rerunning a batch retries its failed jobs, as the local batch does.
        await existing.retry('failed');
        enqueued++;
      }
    }
    if (o.detach) return outcome(false, true);

    const collect = async (job: Job<RemoteJobData, RemoteJobResult>) => {
      const planned = pending.get(job.id!)!;
      const result = RemoteJobResultSchema.safeParse(job.returnvalue);
      if (!result.success) return fail(planned, `the worker's result is not a studio result: ${z.prettifyError(result.error)}`);
      for (const image of result.data.images) {
        const file = planned.files[image.batchIndex];
        if (file === undefined) return fail(planned, `the worker returned image ${image.batchIndex} of a batch of ${planned.files.length}`);
        // False: the file is there already, written by an earlier run that died before removing the job.
        await writeNewFileAtomic(join(o.out, file), Buffer.from(image.png, 'base64'));
      }
      pending.delete(planned.id);
      ran++;
      o.onEvent?.({ type: 'done', job: planned, files: planned.files });
      await job.remove().catch((e: Error) => report(`job ${planned.id.slice(0, 12)}: its images are saved but it stays in Redis (${e.message})`));
    };
    const fail = (planned: PlannedJob, error: string) => {
      pending.delete(planned.id);
      failed.set(planned.id, error);
      o.onEvent?.({ type: 'failed', job: planned, error });
    };

    for (let poll = 0; pending.size > 0 && !o.signal.aborted; poll++) {
      try {
        for (const queue of queues.values()) {
          for (const job of await queue.getCompleted(0, 999)) if (pending.has(job.id!)) await collect(job);
          for (const job of await queue.getFailed(0, 999)) if (pending.has(job.id!)) fail(pending.get(job.id!)!, job.failedReason);
        }
        if (poll % EXISTENCE_CHECK_EVERY === EXISTENCE_CHECK_EVERY - 1) {
          for (const job of [...pending.values()]) {
            if ((await queueOf.get(job.id)!.getJobState(job.id)) !== 'unknown') continue;
            if (onDisk(job)) {
              // Another run of this batch collected it (and removed it from Redis).
              pending.delete(job.id);
              o.onEvent?.({ type: 'done', job, files: job.files });
              continue;
            }
            o.log?.(`job ${job.id.slice(0, 12)} is no longer in Redis (restarted without its data?); queueing it again`);
            await add(job);
          }
        }
        lastError = '';
      } catch (e) {
        report(`waiting for Redis: ${(e as Error).message}`);
      }
      await sleep(o.pollMs ?? 200, o.signal);
    }
    return outcome(o.signal.aborted, false);
  } finally {
    await Promise.all([...queues.values()].map((q) => q.close()));
  }

  async function outcome(cancelled: boolean, detached: boolean): Promise<RemoteBatchOutcome> {
    const sheets = cancelled || detached ? [] : await writeContactSheets(o.out, o.plan.sheets, (j) => (onDisk(j) ? j.files[0] : undefined), (file) => o.onEvent?.({ type: 'sheet', file }));
    const jobs = o.plan.jobs.map((p): JobReport => {
      const done = !pending.has(p.id) && !failed.has(p.id);
      return {
        id: p.id,
        index: p.index,
        line: p.line,
        seed: p.request.seed,
        status: done ? 'done' : failed.has(p.id) ? 'failed' : 'queued',
        files: done ? p.files : [],
        ...(p.cell ? { labels: p.cell.labels } : {}),
        ...(failed.has(p.id) ? { error: failed.get(p.id) } : {}),
      };
    });
    return { jobs, alreadyDone, enqueued, ran, sheets, cancelled, detached };
  }
}
