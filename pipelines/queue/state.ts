// The queue's state machine and the journal events that drive it:
//   queued → running → done | failed | cancelled;  queued → cancelled;
//   running → queued (its process died, or it was interrupted by a shutdown);
//   done | failed | cancelled → queued (asked again: a retry, or a done job whose files are gone).
// Replaying the journal's events from the top rebuilds the state exactly.
import { z } from 'zod';

export const JOB_STATUSES = ['queued', 'running', 'done', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

const OwnerSchema = z.object({ pid: z.int(), host: z.string(), token: z.string() });
export type JobOwner = z.infer<typeof OwnerSchema>;

/** One file a job wrote; `info` is whatever the writer wants the gallery to show (seed, size, …). */
export const OutputSchema = z.object({ file: z.string().min(1), info: z.record(z.string(), z.unknown()).optional() });
export type JobOutput = z.infer<typeof OutputSchema>;

const HistoryEntrySchema = OutputSchema.extend({ jobId: z.string(), group: z.string(), at: z.number() });
/** One output in the history index (the gallery's list), in the order the jobs finished. */
export type HistoryEntry = z.infer<typeof HistoryEntrySchema>;

const JobSchema = z.object({
  id: z.string().min(1),
  group: z.string(),
  status: z.enum(JOB_STATUSES),
  payload: z.unknown(),
  /** How many times the job was started; a process that died while running it used one. */
  attempts: z.int().min(0),
  owner: OwnerSchema.optional(),
  createdAt: z.number(),
  updatedAt: z.number(),
  error: z.string().optional(),
  outputs: z.array(OutputSchema),
});
export type QueueJob<P = unknown> = Omit<z.infer<typeof JobSchema>, 'payload'> & { payload: P };

export const EventSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('add'), id: z.string().min(1), group: z.string(), payload: z.unknown(), at: z.number() }),
  z.object({ t: z.literal('start'), id: z.string(), owner: OwnerSchema, at: z.number() }),
  z.object({ t: z.literal('done'), id: z.string(), outputs: z.array(OutputSchema), at: z.number() }),
  z.object({ t: z.literal('fail'), id: z.string(), error: z.string(), at: z.number() }),
  z.object({ t: z.literal('cancel'), id: z.string(), reason: z.string(), at: z.number() }),
  z.object({ t: z.literal('requeue'), id: z.string(), reason: z.string(), attempts: z.int().min(0), at: z.number() }),
  /** A queued job moved to just before the queued job `before` (the run order is the order of the jobs). */
  z.object({ t: z.literal('move'), id: z.string(), before: z.string(), at: z.number() }),
  /** Compaction's form: a whole job, and the whole history. */
  z.object({ t: z.literal('job'), job: JobSchema }),
  z.object({ t: z.literal('history'), entries: z.array(HistoryEntrySchema) }),
]);
export type QueueEvent = z.infer<typeof EventSchema>;

const FROM: Record<string, readonly JobStatus[]> = {
  start: ['queued'],
  done: ['running'],
  fail: ['running'],
  cancel: ['queued', 'running'],
  requeue: ['running', 'done', 'failed', 'cancelled'],
};

export class QueueState {
  /** In the order the jobs were added. */
  readonly jobs = new Map<string, QueueJob>();
  history: HistoryEntry[] = [];

  /** Applies one event; returns why it does not apply (the state is then unchanged). */
  apply(e: QueueEvent): string | undefined {
    switch (e.t) {
      case 'add':
        if (this.jobs.has(e.id)) return `job ${e.id} is already in the queue`;
        this.jobs.set(e.id, { id: e.id, group: e.group, status: 'queued', payload: e.payload, attempts: 0, createdAt: e.at, updatedAt: e.at, outputs: [] });
        return undefined;
      case 'job':
        this.jobs.delete(e.job.id);
        this.jobs.set(e.job.id, { ...e.job, outputs: [...e.job.outputs] });
        return undefined;
      case 'history':
        this.history = [...e.entries];
        return undefined;
      case 'move':
        return this.move(e.id, e.before);
    }
    const job = this.jobs.get(e.id);
    if (!job) return `no job ${e.id} in the queue`;
    if (!FROM[e.t].includes(job.status)) return `job ${e.id} is ${job.status}, so it cannot take "${e.t}"`;
    job.updatedAt = e.at;
    switch (e.t) {
      case 'start':
        job.status = 'running';
        job.owner = e.owner;
        job.attempts++;
        delete job.error;
        break;
      case 'done':
        job.status = 'done';
        job.outputs = e.outputs;
        delete job.owner;
        for (const o of e.outputs) this.history.push({ ...o, jobId: job.id, group: job.group, at: e.at });
        break;
      case 'fail':
      case 'cancel':
        job.status = e.t === 'fail' ? 'failed' : 'cancelled';
        job.error = e.t === 'fail' ? e.error : e.reason;
        delete job.owner;
        break;
      case 'requeue':
        if (job.status === 'done') this.history = this.history.filter((h) => h.jobId !== job.id);
        job.status = 'queued';
        job.attempts = e.attempts;
        job.outputs = [];
        job.error = e.reason;
        delete job.owner;
        break;
    }
    return undefined;
  }

  /** Reorders the job map (its order is the run order); both jobs must be queued. */
  private move(id: string, before: string): string | undefined {
    const job = this.jobs.get(id);
    const anchor = this.jobs.get(before);
    if (!job || !anchor) return `no job ${job ? before : id} in the queue`;
    if (job.status !== 'queued' || anchor.status !== 'queued') return `only queued jobs can be reordered (job ${job.status !== 'queued' ? id : before} is ${job.status !== 'queued' ? job.status : anchor.status})`;
    if (id === before) return undefined;
    const entries = [...this.jobs.entries()].filter(([k]) => k !== id);
    entries.splice(entries.findIndex(([k]) => k === before), 0, [id, job]);
    this.jobs.clear();
    for (const [k, v] of entries) this.jobs.set(k, v);
    return undefined;
  }

  /** Events that rebuild this state from nothing (for compaction). */
  snapshot(): QueueEvent[] {
    return [{ t: 'history', entries: this.history }, ...[...this.jobs.values()].map((job): QueueEvent => ({ t: 'job', job }))];
  }
}
