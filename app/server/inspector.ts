// Runs inspect-tasks.ts in a worker thread with a time and memory budget per task. Tasks run one at a
// time; one that overruns its time, or the worker's heap, ends the worker (a fresh one takes the next
// task) and fails with a message naming the file, so a hostile file cannot stall or crash the server.
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../../pipelines/host/launchers.ts';
import { BadRequestError } from './dispatch.ts';
import type { InspectResult, InspectTask } from './inspect-tasks.ts';

export interface InspectorBudget {
  /** Per task. */
  timeMs: number;
  /** The worker's JavaScript heap. */
  heapMb: number;
}

export const DEFAULT_BUDGET: InspectorBudget = { timeMs: 10_000, heapMb: 512 };

const ENTRY = new URL(import.meta.url.endsWith('.ts') ? './inspect-worker.ts' : './inspect-worker.js', import.meta.url);

interface Pending {
  id: number;
  task: InspectTask;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export class Inspector {
  private worker?: Worker;
  private readonly queue: Pending[] = [];
  private current?: { p: Pending; timer: NodeJS.Timeout };
  private nextId = 1;
  private closed = false;

  constructor(private readonly budget: InspectorBudget = DEFAULT_BUDGET) {}

  run<T extends InspectTask>(task: T): Promise<InspectResult<T>> {
    if (this.closed) return Promise.reject(new Error('the studio is shutting down'));
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, task, resolve: resolve as (v: unknown) => void, reject });
      this.pump();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.queue.splice(0)) p.reject(new Error('the studio is shutting down'));
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }

  private pump(): void {
    if (this.current || this.closed) return;
    const p = this.queue.shift();
    if (!p) return;
    const worker = this.ensureWorker();
    const timer = setTimeout(() => this.fail(`took more than ${this.budget.timeMs / 1000} s`), this.budget.timeMs);
    this.current = { p, timer };
    worker.postMessage({ id: p.id, task: p.task });
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = startWorker(ENTRY, { resourceLimits: { maxOldGenerationSizeMb: this.budget.heapMb, maxYoungGenerationSizeMb: 64 } });
    worker.unref();
    worker.on('message', (m: { id: number; ok: boolean; value?: unknown; name?: string; message?: string }) => {
      const c = this.current;
      if (!c || c.p.id !== m.id) return;
      this.finish();
      if (m.ok) c.p.resolve(m.value);
      else c.p.reject(m.name === 'BadRequestError' ? new BadRequestError(m.message ?? '') : new Error(m.message));
    });
    worker.on('error', (e) => {
      if (this.worker === worker) this.fail(e.message.includes('memory') ? `needed more than ${this.budget.heapMb} MiB` : `failed (${e.message})`);
    });
    worker.on('exit', () => {
      if (this.worker === worker) this.fail('stopped the reader');
    });
    this.worker = worker;
    return worker;
  }

  private finish(): void {
    if (this.current) clearTimeout(this.current.timer);
    this.current = undefined;
    setImmediate(() => this.pump());
  }

  /** The current task overran its budget: end the worker and fail the task. */
  private fail(what: string): void {
    const c = this.current;
    const worker = this.worker;
    this.worker = undefined;
    void worker?.terminate();
    if (!c) return;
    this.finish();
    c.p.reject(new BadRequestError(`${describeTask(c.p.task)} ${what} to read, so it was skipped`));
  }
}

function describeTask(t: InspectTask): string {
  return `image "${t.name}"`;
}
