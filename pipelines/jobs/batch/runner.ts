// Runs a batch plan through the persistent queue kept in the output folder (its journal is the
// batch's manifest: each job's id, state and files). Jobs already done with their files present are
// skipped; images are written atomically under their planned names before the job is marked done,
// so a crash at any point leaves every image at most once, and the next run finishes the rest.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeNewFileAtomic } from '../../queue/atomic-write.ts';
import { PersistentQueue, type JobOutput, type QueueJob } from '../../queue/index.ts';
import { isRunning, THIS_PROCESS } from '../../queue/lock.ts';
import type { GenerateProgress, GenerateRequest, GenerateResult } from '../api.ts';
import type { BatchEngine } from './engines.ts';
import { encodeImages, FileHashes } from './png-output.ts';
import { writeContactSheets } from './sheets.ts';
import type { BatchPlan, PlannedJob } from './plan.ts';

/** The queue group of batch jobs (the app's own jobs are in another group). */
export const BATCH_GROUP = 'batch';

/** What the journal keeps of a job, besides its id (the plan is rebuilt from the batch file each run). */
interface BatchPayload {
  index: number;
  line: number;
  files: string[];
  request: GenerateRequest;
}

export type BatchEvent =
  | { type: 'planned'; total: number; alreadyDone: number }
  | { type: 'progress'; job: PlannedJob; progress: GenerateProgress }
  | { type: 'done'; job: PlannedJob; files: string[] }
  | { type: 'failed'; job: PlannedJob; error: string }
  | { type: 'sheet'; file: string };

export interface BatchRunOptions {
  out: string;
  plan: BatchPlan;
  engines: readonly BatchEngine[];
  signal: AbortSignal;
  studioVersion: string;
  onEvent?: (e: BatchEvent) => void;
}

export interface JobReport {
  id: string;
  index: number;
  line: number;
  seed: number;
  status: QueueJob['status'];
  files: string[];
  labels?: string[];
  error?: string;
}

export interface BatchOutcome {
  manifest: string;
  jobs: JobReport[];
  /** Jobs done before this run (skipped). */
  alreadyDone: number;
  /** Jobs this run finished. */
  ran: number;
  sheets: string[];
  cancelled: boolean;
  warnings: string[];
}

/** Temporary files of atomic writes whose process died (a SIGKILL between write and rename). */
export function removeStaleTemps(dir: string): void {
  for (const name of readdirSync(dir)) {
    const m = /^\..+\.(\d+)-[0-9a-f]{8}\.tmp$/.exec(name);
    if (m && !isRunning({ pid: Number(m[1]), host: THIS_PROCESS.host })) rmSync(join(dir, name), { force: true });
  }
}

async function saveImages(out: string, job: PlannedJob, result: GenerateResult, hashes: FileHashes, studioVersion: string): Promise<JobOutput[]> {
  const outputs: JobOutput[] = [];
  for (const { batchIndex, seed, width, height, png } of await encodeImages(job.request, result, hashes, studioVersion)) {
    const file = job.files[batchIndex];
    // False means the file is already there: written by a run of this same job that died before
    // recording it (the name holds the job's id), so it is this job's image, not a duplicate.
    await writeNewFileAtomic(join(out, file), png);
    outputs.push({ file, info: { index: job.index, line: job.line, seed, width, height, batchIndex } });
  }
  return outputs.sort((a, b) => a.file.localeCompare(b.file));
}

/** Adds the plan's jobs to the queue; done jobs whose files are gone are queued again. Returns how many are done. */
function reconcile(queue: PersistentQueue<BatchPayload>, out: string, plan: BatchPlan): number {
  const added = queue.add(
    plan.jobs.map((j) => ({ id: j.id, group: BATCH_GROUP, payload: { index: j.index, line: j.line, files: j.files, request: j.request } })),
    { retry: true },
  );
  let done = 0;
  for (const { job } of added) {
    if (job.status !== 'done') continue;
    const gone = job.outputs.filter((o) => !existsSync(join(out, o.file)));
    if (gone.length || job.outputs.length === 0) queue.requeue(job.id, `${gone.map((o) => o.file).join(', ')} no longer exist`);
    else done++;
  }
  return done;
}

export async function runBatch(o: BatchRunOptions): Promise<BatchOutcome> {
  await mkdir(o.out, { recursive: true });
  removeStaleTemps(o.out);
  const queue = PersistentQueue.open<BatchPayload>(o.out);
  const planned = new Map(o.plan.jobs.map((j) => [j.id, j]));
  const hashes = new FileHashes();
  let ran = 0;
  try {
    const alreadyDone = reconcile(queue, o.out, o.plan);
    o.onEvent?.({ type: 'planned', total: o.plan.jobs.length, alreadyDone });

    const worker = async (engine: BatchEngine): Promise<void> => {
      while (!o.signal.aborted) {
        const claimed = queue.claim((j) => planned.has(j.id));
        if (!claimed) return;
        const job = planned.get(claimed.id)!;
        try {
          const result = await engine.run(job.request, { signal: o.signal, onProgress: (progress) => o.onEvent?.({ type: 'progress', job, progress }) });
          const outputs = await saveImages(o.out, job, result, hashes, o.studioVersion);
          queue.complete(job.id, outputs);
          ran++;
          o.onEvent?.({ type: 'done', job, files: outputs.map((x) => x.file) });
        } catch (e) {
          if (o.signal.aborted) {
            queue.release(job.id, 'interrupted; run the batch again to finish it');
            return;
          }
          const error = e instanceof Error ? e.message : String(e);
          queue.fail(job.id, error);
          o.onEvent?.({ type: 'failed', job, error });
        }
      }
    };
    await Promise.all(o.engines.map(worker));

    const status = new Map(queue.jobs((j) => planned.has(j.id)).map((j) => [j.id, j]));
    const firstImage = (job: PlannedJob) => {
      const j = status.get(job.id);
      return j?.status === 'done' ? j.outputs[0]?.file : undefined;
    };
    const sheets = o.signal.aborted ? [] : await writeContactSheets(o.out, o.plan.sheets, firstImage, (file) => o.onEvent?.({ type: 'sheet', file }));
    const jobs = o.plan.jobs.map((p): JobReport => {
      const j = status.get(p.id)!;
      return {
        id: p.id,
        index: p.index,
        line: p.line,
        seed: p.request.seed,
        status: j.status,
        files: j.outputs.map((x) => x.file),
        ...(p.cell ? { labels: p.cell.labels } : {}),
        ...(j.error !== undefined && j.status !== 'done' ? { error: j.error } : {}),
      };
    });
    return { manifest: queue.journalPath, jobs, alreadyDone, ran, sheets, cancelled: o.signal.aborted, warnings: [...queue.warnings] };
  } finally {
    queue.close();
  }
}
