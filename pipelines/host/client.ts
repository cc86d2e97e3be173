// The client's side of the engine host: a queue of jobs sent one at a time, progress routed to the
// caller, cancellation, and a host that crashed started again with the queue kept.
import type { builtinJobs } from './builtin-jobs.ts';
import { JobCancelledError, type JobInput, type JobOutput, type JobRegistry } from './jobs.ts';
import { processHost, type HostConnection, type HostLauncher } from './launchers.ts';
import { HostMessage, parseMessage, type ErrorInfo, type Progress } from './protocol.ts';

export interface EngineClientOptions {
  /** How to start the host; default a child process (see launchers.ts for the trade-offs). */
  host?: HostLauncher;
  /** Modules (paths or file URLs) whose exported `jobs` the host runs, besides its built-in ones. */
  jobModules?: readonly (string | URL)[];
  /** After a cancel, how long a job may take to reach its next step before the host is killed. Default: wait. */
  cancelGraceMs?: number;
  /** Host starts that may fail in a row (before it says ready) before queued jobs are failed. */
  maxStartFailures?: number;
  onEvent?: (e: HostEvent) => void;
}

export type HostEvent =
  | { type: 'ready'; pid: number; jobs: string[] }
  | { type: 'exited'; how: string; lostJob?: string; queued: number };

export interface RunOptions {
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
}

/** The host died while this job ran; the host was started again and the queue goes on. */
export class HostCrashedError extends Error {
  constructor(readonly job: string, readonly how: string, queued: number) {
    super(`the engine host ${how} while running job "${job}"; it is being restarted and the ${queued} queued job(s) will still run`);
    this.name = 'HostCrashedError';
  }
}

/** The job threw inside the host. `remote` is the error as the host saw it. */
export class JobFailedError extends Error {
  constructor(readonly job: string, readonly remote: ErrorInfo) {
    super(`job "${job}" failed: ${remote.message}`);
    this.name = 'JobFailedError';
  }
}

interface Pending {
  id: string;
  job: string;
  input: unknown;
  options: RunOptions;
  resolve(output: unknown): void;
  reject(error: Error): void;
  cleanup(): void;
}

interface LiveHost {
  conn: HostConnection;
  ready: boolean;
  pid?: number;
}

/** The jobs a client can call: its job modules' (J) and the host's built-in ones. */
type Callable<J> = J & typeof builtinJobs;

export class EngineClient<J extends JobRegistry = JobRegistry> {
  private readonly launcher: HostLauncher;
  private readonly modules: string[];
  private host?: LiveHost;
  private readonly queue: Pending[] = [];
  private current?: Pending;
  private startFailures = 0;
  private closed = false;
  private nextId = 1;

  constructor(private readonly o: EngineClientOptions = {}) {
    this.launcher = o.host ?? processHost();
    this.modules = (o.jobModules ?? []).map((m) => (m instanceof URL ? m.href : m));
  }

  /** The host's process id once it is ready (the client's own pid for a worker host). */
  get hostPid(): number | undefined {
    return this.host?.pid;
  }

  run<K extends keyof Callable<J> & string>(job: K, input: JobInput<Callable<J>[K]>, options: RunOptions = {}): Promise<JobOutput<Callable<J>[K]>> {
    return new Promise<unknown>((resolve, reject) => {
      if (this.closed) return reject(new Error(`job "${job}": the engine client is closed`));
      if (options.signal?.aborted) return reject(new JobCancelledError(`job "${job}" was cancelled before it started`));
      const p: Pending = { id: String(this.nextId++), job, input, options, resolve, reject, cleanup: () => {} };
      const onAbort = () => this.cancel(p);
      options.signal?.addEventListener('abort', onAbort, { once: true });
      p.cleanup = () => options.signal?.removeEventListener('abort', onAbort);
      this.queue.push(p);
      this.pump();
    }) as Promise<JobOutput<Callable<J>[K]>>;
  }

  /** Fails every queued job and stops the host. */
  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.queue.splice(0)) this.settle(p, new Error(`job "${p.job}": the engine client was closed`));
    if (this.current) this.settle(this.current, new Error(`job "${this.current.job}": the engine client was closed while it ran`));
    this.current = undefined;
    await this.stopHost();
  }

  private pump(): void {
    if (this.closed || this.current || this.queue.length === 0) return;
    if (!this.host) return this.startHost();
    if (!this.host.ready) return;
    const p = this.queue.shift()!;
    try {
      this.host.conn.post({ type: 'run', id: p.id, job: p.job, input: p.input });
      this.current = p;
    } catch (e) {
      // The input cannot be cloned (a function, a class with native state...): only this job fails.
      this.settle(p, new Error(`job "${p.job}": its input cannot be sent to the engine host: ${(e as Error).message}`));
      this.pump();
    }
  }

  private startHost(): void {
    const conn = this.launcher();
    const host: LiveHost = { conn, ready: false };
    this.host = host;
    conn.onMessage((raw) => this.host === host && this.onMessage(host, raw));
    conn.onExit((how) => this.host === host && this.onUnexpectedExit(how));
    conn.post({ type: 'init', modules: this.modules });
  }

  private async stopHost(): Promise<void> {
    const host = this.host;
    this.host = undefined; // before the kill, so its exit is not taken for a crash
    await host?.conn.kill();
  }

  private onMessage(host: LiveHost, raw: unknown): void {
    let msg: HostMessage;
    try {
      msg = parseMessage(HostMessage, raw, 'engine host');
    } catch (e) {
      return this.failAll(e as Error);
    }
    switch (msg.type) {
      case 'ready':
        host.ready = true;
        host.pid = msg.pid;
        this.startFailures = 0;
        this.o.onEvent?.({ type: 'ready', pid: msg.pid, jobs: msg.jobs });
        return this.pump();
      case 'init-failed':
        // Restarting would fail the same way: a job module does not load.
        return this.failAll(new Error(`the engine host could not load its jobs: ${msg.error.message}`));
      case 'progress':
        if (this.current?.id === msg.id) this.current.options.onProgress?.(msg.progress);
        return;
      case 'done':
      case 'failed': {
        const p = this.current;
        if (p?.id !== msg.id) return;
        this.current = undefined;
        if (msg.type === 'done') this.settle(p, undefined, msg.output);
        else if (msg.cancelled) this.settle(p, new JobCancelledError(`job "${p.job}" was cancelled`));
        else this.settle(p, new JobFailedError(p.job, msg.error));
        return this.pump();
      }
    }
  }

  private onUnexpectedExit(how: string): void {
    const lost = this.current;
    const wasReady = this.host?.ready;
    this.host = undefined;
    this.current = undefined;
    this.o.onEvent?.({ type: 'exited', how, lostJob: lost?.job, queued: this.queue.length });
    if (lost) this.settle(lost, new HostCrashedError(lost.job, how, this.queue.length));
    if (!wasReady && ++this.startFailures >= (this.o.maxStartFailures ?? 3)) {
      this.startFailures = 0;
      for (const p of this.queue.splice(0)) this.settle(p, new Error(`job "${p.job}": the engine host failed to start ${this.o.maxStartFailures ?? 3} times; it last ${how}`));
      return;
    }
    this.pump();
  }

  private cancel(p: Pending): void {
    const queued = this.queue.indexOf(p);
    if (queued >= 0) {
      this.queue.splice(queued, 1);
      return this.settle(p, new JobCancelledError(`job "${p.job}" was cancelled before it started`));
    }
    if (this.current !== p || !this.host) return;
    this.host.conn.post({ type: 'cancel', id: p.id });
    const grace = this.o.cancelGraceMs;
    if (grace === undefined) return;
    setTimeout(() => {
      if (this.current !== p) return;
      this.current = undefined;
      this.settle(p, new JobCancelledError(`job "${p.job}" did not stop within ${grace} ms of its cancel; the engine host was restarted`));
      void this.stopHost().then(() => this.pump());
    }, grace).unref();
  }

  /** Ends the host and fails every job: for errors a restart would repeat. */
  private failAll(error: Error): void {
    const jobs = [...(this.current ? [this.current] : []), ...this.queue.splice(0)];
    this.current = undefined;
    for (const p of jobs) this.settle(p, error);
    void this.stopHost();
  }

  private settle(p: Pending, error: Error | undefined, output?: unknown): void {
    p.cleanup();
    if (error) p.reject(error);
    else p.resolve(output);
  }
}
