// A job queue kept on disk and shared by the processes that use one folder (the app's outputs
// folder, or a `studio batch` output folder): it survives restarts, loses no job and runs none
// twice. Every change is one short locked step: read what other processes appended, check the
// transition, append it to the journal and fsync. A job found 'running' whose process has died is
// queued again once; a second death marks it failed, so one bad job cannot crash-loop the app.
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Journal } from './journal.ts';
import { isRunning, THIS_PROCESS, withFileLock } from './lock.ts';
import { EventSchema, QueueState, type HistoryEntry, type JobOutput, type JobOwner, type QueueEvent, type QueueJob } from './state.ts';

export type { HistoryEntry, JobOutput, JobStatus, QueueJob } from './state.ts';

/** File names inside the queue's folder (hidden, so galleries listing images skip them). */
export const JOURNAL_FILE = '.studio-queue.jsonl';
export const LOCK_FILE = '.studio-queue.lock';

/** Starts a job may use before a process death marks it failed instead of queued again. */
export const MAX_STARTS = 2;

export interface QueueOptions {
  /** How long a change waits for another process's lock before giving up (default 10 s). */
  lockTimeoutMs?: number;
  /** Finished jobs whose payload compaction keeps (older ones keep their id, state and outputs). Default 1000. */
  keepFinished?: number;
  /** Journal lines before compaction is considered (default 2000). */
  compactAfterLines?: number;
}

export interface AddItem<P> {
  /** Default: the next `job-N`. A deterministic id (a hash of the request) makes adding idempotent. */
  id?: string;
  group: string;
  payload: P;
}

export type AddOutcome = 'added' | 'exists' | 'requeued';

/** A change that does not fit the job's state (e.g. completing a job this process does not run). */
export class QueueStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QueueStateError';
  }
}

/** Queue instances alive in this process: a job owned by this pid but none of these is an earlier process's. */
const liveTokens = new Set<string>();

function ownerIsGone(owner: JobOwner): boolean {
  if (owner.pid === THIS_PROCESS.pid && owner.host === THIS_PROCESS.host) return !liveTokens.has(owner.token);
  return !isRunning(owner);
}


export class PersistentQueue<P = unknown> {
  readonly journalPath: string;
  readonly lockPath: string;
  /** Journal lines that could not be read (kept for `studio` to show). */
  readonly warnings: string[] = [];
  private journal: Journal;
  private state = new QueueState();
  /**
   * The last event time this process wrote. Times are kept strictly increasing, so jobs that finish in the
   * same millisecond still have an order (compaction keeps the newest payloads by it).
   */
  private lastEventAt = 0;
  private readonly owner: JobOwner = { ...THIS_PROCESS, token: randomBytes(8).toString('hex') };

  private constructor(
    readonly dir: string,
    private readonly o: QueueOptions,
  ) {
    this.journalPath = join(dir, JOURNAL_FILE);
    this.lockPath = join(dir, LOCK_FILE);
    this.journal = new Journal(this.journalPath);
  }

  /** Opens (creating if needed) the queue kept in `dir`, and re-queues the jobs of dead processes. */
  static open<P = unknown>(dir: string, o: QueueOptions = {}): PersistentQueue<P> {
    mkdirSync(dir, { recursive: true });
    const q = new PersistentQueue<P>(dir, o);
    liveTokens.add(q.owner.token);
    q.change(() => undefined);
    return q;
  }

  /** Stops this instance; jobs it still runs count as abandoned for the next process. */
  close(): void {
    liveTokens.delete(this.owner.token);
  }

  // ---- reading ----

  /** Reads what other processes changed (no lock needed: only complete lines are read). */
  refresh(): void {
    this.absorb(false);
  }

  jobs(filter?: (job: QueueJob<P>) => boolean): QueueJob<P>[] {
    this.refresh();
    const all = [...this.state.jobs.values()] as QueueJob<P>[];
    return (filter ? all.filter(filter) : all).map((j) => structuredClone(j));
  }

  /** The group's queued and running jobs and its `finished` most recently finished ones, in the order added. */
  recent(group: string, finished: number): QueueJob<P>[] {
    this.refresh();
    const mine = [...this.state.jobs.values()].filter((j) => j.group === group);
    const done = mine.filter((j) => j.status !== 'queued' && j.status !== 'running').sort((a, b) => b.updatedAt - a.updatedAt);
    const hidden = new Set(done.slice(finished));
    return mine.filter((j) => !hidden.has(j)).map((j) => structuredClone(j) as QueueJob<P>);
  }

  get(id: string): QueueJob<P> | undefined {
    this.refresh();
    const job = this.state.jobs.get(id) as QueueJob<P> | undefined;
    return job && structuredClone(job);
  }

  /** The outputs of finished jobs, newest first: the gallery's index. */
  history(o: { limit?: number; group?: string } = {}): HistoryEntry[] {
    this.refresh();
    const entries = o.group === undefined ? this.state.history : this.state.history.filter((h) => h.group === o.group);
    return entries.slice(Math.max(0, entries.length - (o.limit ?? entries.length))).reverse().map((h) => ({ ...h }));
  }

  // ---- changing ----

  /**
   * Adds jobs; one whose id is already there is left as it is ('exists'), or with `retry`, queued
   * again when it had failed or been cancelled ('requeued').
   */
  add(items: readonly AddItem<P>[], o: { retry?: boolean } = {}): Array<{ job: QueueJob<P>; outcome: AddOutcome }> {
    return this.change((emit, now) =>
      items.map((item) => {
        const id = item.id ?? this.nextJobId();
        const existing = this.state.jobs.get(id);
        let outcome: AddOutcome = 'exists';
        if (!existing) {
          emit({ t: 'add', id, group: item.group, payload: item.payload, at: now });
          outcome = 'added';
        } else if (o.retry && (existing.status === 'failed' || existing.status === 'cancelled')) {
          emit({ t: 'requeue', id, reason: `asked again after it was ${existing.status}`, attempts: 0, at: now });
          outcome = 'requeued';
        }
        return { job: structuredClone(this.state.jobs.get(id)) as QueueJob<P>, outcome };
      }),
    );
  }

  /** Takes the first queued job that passes `filter` and marks it running by this process. */
  claim(filter?: (job: QueueJob<P>) => boolean): QueueJob<P> | undefined {
    return this.change((emit, now) => {
      for (const job of this.state.jobs.values()) {
        if (job.status !== 'queued' || (filter && !filter(job as QueueJob<P>))) continue;
        emit({ t: 'start', id: job.id, owner: this.owner, at: now });
        return structuredClone(job) as QueueJob<P>;
      }
      return undefined;
    });
  }

  complete(id: string, outputs: JobOutput[]): void {
    this.changeOwned(id, (now) => ({ t: 'done', id, outputs, at: now }));
  }

  fail(id: string, error: string): void {
    this.changeOwned(id, (now) => ({ t: 'fail', id, error, at: now }));
  }

  /** A running job this process was interrupted in (shutdown, Ctrl-C): queued again, the start not counted. */
  release(id: string, reason: string): void {
    this.changeOwned(id, (now) => {
      const job = this.state.jobs.get(id)!;
      return { t: 'requeue', id, reason, attempts: Math.max(0, job.attempts - 1), at: now };
    });
  }

  /**
   * Cancels a queued job, or a running one of this process (the caller stops the work). Returns false
   * when the job is unknown, finished, or running in another live process.
   */
  cancel(id: string, reason: string): boolean {
    return this.change((emit, now) => {
      const job = this.state.jobs.get(id);
      if (!job || (job.status !== 'queued' && !(job.status === 'running' && job.owner?.token === this.owner.token))) return false;
      emit({ t: 'cancel', id, reason, at: now });
      return true;
    });
  }

  /** Moves queued job `id` to run just before queued job `before`; false when either is not queued. */
  move(id: string, before: string): boolean {
    return this.change((emit, now) => {
      const [a, b] = [this.state.jobs.get(id), this.state.jobs.get(before)];
      if (a?.status !== 'queued' || b?.status !== 'queued') return false;
      if (id !== before) emit({ t: 'move', id, before, at: now });
      return true;
    });
  }

  /** Queues a finished job again (e.g. a done job whose files were deleted). */
  requeue(id: string, reason: string): void {
    this.change((emit, now) => {
      const job = this.state.jobs.get(id);
      if (!job) throw new QueueStateError(`no job ${id} in the queue at ${this.dir}`);
      if (job.status === 'queued') return;
      emit({ t: 'requeue', id, reason, attempts: 0, at: now });
    });
  }

  // ---- internals ----

  /** `job-N`, N above every number used so far (the history remembers forgotten jobs' ids). */
  private nextJobId(): string {
    let max = 0;
    const see = (id: string) => {
      const m = /^job-(\d+)$/.exec(id);
      if (m) max = Math.max(max, Number(m[1]));
    };
    for (const id of this.state.jobs.keys()) see(id);
    for (const h of this.state.history) see(h.jobId);
    return `job-${max + 1}`;
  }

  private changeOwned(id: string, event: (now: number) => QueueEvent): void {
    this.change((emit, now) => {
      const job = this.state.jobs.get(id);
      if (!job || job.status !== 'running' || job.owner?.token !== this.owner.token) {
        throw new QueueStateError(`job ${id} is ${job ? job.status : 'not in the queue'}${job?.owner ? ` (run by pid ${job.owner.pid})` : ''}, not running in this process`);
      }
      emit(event(now));
    });
  }

  /**
   * One locked change: read the others' lines (repairing a torn tail), re-queue dead processes'
   * jobs, let `fn` emit events (applied at once, so `fn` sees them), then append them durably.
   */
  private change<T>(fn: (emit: (e: QueueEvent) => void, now: number) => T): T {
    return withFileLock(
      this.lockPath,
      () => {
        this.journal.ensure();
        this.absorb(true);
        const pending: QueueEvent[] = [];
        const emit = (e: QueueEvent): void => {
          const problem = this.state.apply(e);
          if (problem) throw new QueueStateError(`${problem} (queue at ${this.dir})`);
          pending.push(e);
        };
        const now = Math.max(Date.now(), this.lastEventAt + 1);
        this.lastEventAt = now;
        try {
          this.recoverDeadOwners(emit, now);
          const result = fn(emit, now);
          this.journal.append(pending);
          this.compactIfLong();
          return result;
        } catch (e) {
          // Events applied in memory but not written: read the journal again from the top.
          if (pending.length) this.reload();
          throw e;
        }
      },
      this.o.lockTimeoutMs,
    );
  }

  private recoverDeadOwners(emit: (e: QueueEvent) => void, now: number): void {
    for (const job of this.state.jobs.values()) {
      if (job.status !== 'running' || !job.owner || !ownerIsGone(job.owner)) continue;
      const who = `the process running it (pid ${job.owner.pid} on ${job.owner.host}) stopped`;
      if (job.attempts >= MAX_STARTS) emit({ t: 'fail', id: job.id, error: `${who}, ${job.attempts} times; it is not started again`, at: now });
      else emit({ t: 'requeue', id: job.id, reason: `${who}; queued again`, attempts: job.attempts, at: now });
    }
  }

  private absorb(repair: boolean): void {
    const read = this.journal.read(repair);
    if (read.reset) this.state = new QueueState();
    this.warnings.push(...read.warnings);
    for (const { line, value } of read.lines) {
      const parsed = EventSchema.safeParse(value);
      const problem = parsed.success ? this.state.apply(parsed.data) : 'not a queue event';
      if (problem) this.warnings.push(`${this.journalPath}:${line}: ${problem}, skipped`);
    }
  }

  private reload(): void {
    this.journal = new Journal(this.journalPath);
    this.state = new QueueState();
    this.absorb(false);
  }

  /**
   * Rewrites the journal as a snapshot once it is twice as long as that snapshot. Finished jobs past
   * the newest `keepFinished` lose their payload but stay listed, so adding them again is still a
   * no-op (a resumed batch must not redo them) and their outputs stay in the history.
   */
  private compactIfLong(): void {
    if (this.journal.lines < (this.o.compactAfterLines ?? 2000) || this.journal.lines < 2 * (this.state.jobs.size + 2)) return;
    const finished = [...this.state.jobs.values()].filter((j) => j.status === 'done' || j.status === 'failed' || j.status === 'cancelled');
    const old = finished.sort((a, b) => b.updatedAt - a.updatedAt).slice(this.o.keepFinished ?? 1000);
    for (const job of old) job.payload = null;
    this.journal.rewrite(this.state.snapshot());
  }
}
