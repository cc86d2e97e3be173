// The app's generation queue on top of the persistent queue (enqueue, cancel, state, cancelAll, move),
// plus `close()` for shutdown
// and `history()` for the gallery. Jobs run one at a time in submission order; queued jobs survive a
// restart and run when the app starts again; a job interrupted by shutdown is queued again.
import { PersistentQueue, type HistoryEntry, type QueueJob, type QueueOptions } from './queue.ts';

export interface AppJobProgress {
  phase: string;
  step: number;
  total: number;
}

/** What the UI lists for a job (the shape of JobView in app/server/api.ts). */
export interface AppJobView {
  id: string;
  status: 'queued' | 'running' | 'done' | 'failed' | 'cancelled';
  prompt: string;
  seed: number;
  batch: number;
  /** Absent: the model's default. */
  steps?: number;
  heads: number;
  progress?: AppJobProgress;
  error?: string;
  images: string[];
  createdAt: number;
}

export interface AppJobSpec<P> {
  prompt: string;
  seed: number;
  batch: number;
  /** Absent: the model's default. */
  steps?: number;
  heads: number;
  /** What the executor needs to run the job; kept in the journal, so it must be plain JSON data. */
  payload: P;
}

export interface AppJobRun {
  signal: AbortSignal;
  progress(p: AppJobProgress): void;
}

/** Runs one job; resolves with the names of the images it wrote (recorded in the history). */
export type AppJobExecutor<P> = (payload: P, run: AppJobRun, id: string) => Promise<string[]>;

/** Finished jobs shown in the list (the history keeps every output). */
const KEEP_FINISHED = 50;

class Shutdown extends Error {
  constructor() {
    super('the studio is shutting down');
  }
}

export class PersistentJobQueue<P> {
  private readonly queue: PersistentQueue<AppJobSpec<P>>;
  private running?: { id: string; abort: AbortController; done: Promise<void> };
  private readonly progress = new Map<string, AppJobProgress>();
  private closing = false;

  constructor(
    /** Folder of the journal and its lock (e.g. the outputs folder). */
    dir: string,
    private readonly execute: AppJobExecutor<P>,
    private readonly onChange: (state: { jobs: AppJobView[] }) => void,
    private readonly isCancellation: (e: unknown) => boolean,
    private readonly o: QueueOptions & { group?: string } = {},
  ) {
    this.queue = PersistentQueue.open<AppJobSpec<P>>(dir, o);
    queueMicrotask(() => this.pump()); // jobs left queued by the last run
  }

  private get group(): string {
    return this.o.group ?? 'studio';
  }

  enqueue(spec: AppJobSpec<P>): AppJobView {
    if (this.closing) throw new Error('the studio is shutting down; the job was not queued');
    const [{ job }] = this.queue.add([{ group: this.group, payload: spec }]);
    this.changed();
    this.pump();
    return this.view(job);
  }

  /** False when the job is unknown or already finished. */
  cancel(id: string): boolean {
    if (this.running?.id === id) {
      this.running.abort.abort(new Error('cancelled from the queue'));
      return true;
    }
    const cancelled = this.queue.cancel(id, 'cancelled before it started');
    if (cancelled) this.changed();
    return cancelled;
  }

  /** Swaps a queued job with its queued neighbour (up: runs sooner); false when there is none. */
  move(id: string, direction: 'up' | 'down'): boolean {
    const queued = this.queue.jobs((j) => j.group === this.group && j.status === 'queued').map((j) => j.id);
    const at = queued.indexOf(id);
    const other = queued[direction === 'up' ? at - 1 : at + 1];
    if (at < 0 || other === undefined) return false;
    const moved = direction === 'up' ? this.queue.move(id, other) : this.queue.move(other, id);
    if (moved) this.changed();
    return moved;
  }

  state(): { jobs: AppJobView[] } {
    return { jobs: this.queue.recent(this.group, KEEP_FINISHED).map((j) => this.view(j)) };
  }

  /** Every output of this app's jobs, newest first. */
  history(limit?: number): HistoryEntry[] {
    return this.queue.history({ limit, group: this.group });
  }

  /** Cancels every queued and running job (they will not run after a restart either). */
  cancelAll(): void {
    for (const job of this.queue.jobs((j) => j.group === this.group && (j.status === 'queued' || j.status === 'running'))) this.cancel(job.id);
  }

  /** For shutdown: the running job stops and is queued again; queued jobs wait for the next start. */
  async close(): Promise<void> {
    this.closing = true;
    const running = this.running;
    running?.abort.abort(new Shutdown());
    await running?.done;
    this.queue.close();
  }

  private view(job: QueueJob<AppJobSpec<P>>): AppJobView {
    const { payload, ...shown } = job.payload;
    void payload;
    const progress = this.progress.get(job.id);
    return {
      ...shown,
      id: job.id,
      status: job.status,
      images: job.outputs.map((o) => o.file),
      createdAt: job.createdAt,
      ...(job.error !== undefined ? { error: job.error } : {}),
      ...(progress && job.status === 'running' ? { progress } : {}),
    };
  }

  private pump(): void {
    if (this.running || this.closing) return;
    const job = this.queue.claim((j) => j.group === this.group);
    if (!job) return;
    const abort = new AbortController();
    const done = this.run(job, abort)
      .catch((e: Error) => process.emitWarning(`the job queue could not record the end of job ${job.id}: ${e.message}`))
      .finally(() => {
        this.running = undefined;
        this.progress.delete(job.id);
        this.changed();
        this.pump();
      });
    this.running = { id: job.id, abort, done };
    this.changed();
  }

  private async run(job: QueueJob<AppJobSpec<P>>, abort: AbortController): Promise<void> {
    const progress = (p: AppJobProgress): void => {
      this.progress.set(job.id, p);
      this.changed();
    };
    try {
      const images = await this.execute(job.payload.payload, { signal: abort.signal, progress }, job.id);
      this.queue.complete(
        job.id,
        images.map((file) => ({ file })),
      );
    } catch (e) {
      if (abort.signal.reason instanceof Shutdown) this.queue.release(job.id, 'interrupted when the studio shut down; queued again');
      else if (abort.signal.aborted && this.isCancellation(e)) this.queue.cancel(job.id, 'cancelled while running');
      else this.queue.fail(job.id, e instanceof Error ? e.message : String(e));
    }
  }

  private changed(): void {
    this.onChange(this.state());
  }
}
