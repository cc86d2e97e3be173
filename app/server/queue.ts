// The studio's generation queue: jobs run one at a time in submission order, each can be cancelled
// (queued: dropped at once; running: aborted between engine steps), and finished jobs stay listed
// for a while so the UI can show what happened to them.
import type { JobProgress, JobView, QueueState } from './api.ts';

export interface JobSpec<P> {
  prompt: string;
  seed: number;
  batch: number;
  /** Absent: the model's default. */
  steps?: number;
  heads: number;
  /** What the executor needs to run the job. */
  payload: P;
}

export interface JobRun {
  signal: AbortSignal;
  progress(p: JobProgress): void;
}

/** Runs one job; resolves with the names of the images it wrote. */
export type JobExecutor<P> = (payload: P, run: JobRun, id: string) => Promise<string[]>;

interface Entry<P> {
  view: JobView;
  payload: P;
  abort: AbortController;
}

/** Finished jobs kept in the list (the gallery holds the images for good). */
const KEEP_FINISHED = 50;

export class JobQueue<P> {
  private readonly entries: Entry<P>[] = [];
  private running = false;
  private nextId = 1;

  constructor(
    private readonly execute: JobExecutor<P>,
    /** Called after every change of state, with the new state. */
    private readonly onChange: (state: QueueState) => void,
    /** Tells a cancellation apart from a failure. */
    private readonly isCancellation: (e: unknown) => boolean,
  ) {}

  enqueue(spec: JobSpec<P>): JobView {
    const { payload, ...shown } = spec;
    const view: JobView = { id: `job-${this.nextId++}`, status: 'queued', images: [], createdAt: Date.now(), ...shown };
    this.entries.push({ view, payload, abort: new AbortController() });
    this.changed();
    void this.pump();
    return { ...view };
  }

  /** False when the job is unknown or already finished. */
  cancel(id: string): boolean {
    const entry = this.entries.find((e) => e.view.id === id);
    if (!entry || (entry.view.status !== 'queued' && entry.view.status !== 'running')) return false;
    if (entry.view.status === 'queued') this.finish(entry, 'cancelled', 'cancelled before it started');
    entry.abort.abort(new Error('cancelled from the queue'));
    return true;
  }

  state(): QueueState {
    return { jobs: this.entries.map((e) => ({ ...e.view, images: [...e.view.images] })) };
  }

  /** Cancels everything, for shutdown. */
  cancelAll(): void {
    for (const e of this.entries) this.cancel(e.view.id);
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    const entry = this.entries.find((e) => e.view.status === 'queued');
    if (!entry) return;
    this.running = true;
    entry.view.status = 'running';
    this.changed();
    try {
      const progress = (p: JobProgress) => {
        entry.view.progress = p;
        this.changed();
      };
      const images = await this.execute(entry.payload, { signal: entry.abort.signal, progress }, entry.view.id);
      entry.view.images = images;
      this.finish(entry, 'done');
    } catch (e) {
      if (entry.abort.signal.aborted && this.isCancellation(e)) this.finish(entry, 'cancelled', 'cancelled while running');
      else this.finish(entry, 'failed', e instanceof Error ? e.message : String(e));
    } finally {
      this.running = false;
      void this.pump();
    }
  }

  private finish(entry: Entry<P>, status: 'done' | 'failed' | 'cancelled', error?: string): void {
    entry.view.status = status;
    if (error !== undefined) entry.view.error = error;
    const finished = this.entries.filter((e) => e.view.status !== 'queued' && e.view.status !== 'running');
    for (const old of finished.slice(0, Math.max(0, finished.length - KEEP_FINISHED))) this.entries.splice(this.entries.indexOf(old), 1);
    this.changed();
  }

  private changed(): void {
    this.onChange(this.state());
  }
}
