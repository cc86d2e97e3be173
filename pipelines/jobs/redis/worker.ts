// `studio worker`: takes generate jobs from the model queues of a BullMQ queue and runs them in engine
// hosts. It keeps its model loaded: it stays on one model's queue while that has jobs (or is running
// one) and moves to the fullest other model queue only when its own is empty. A worker that dies
// (kill -9, power loss) stops renewing its job locks; BullMQ's stalled-job check in the other workers
// of that queue puts its jobs back after `stallSeconds`.
import { hostname } from 'node:os';
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { engineHost, type BatchEngine } from '../batch/engines.ts';
import { encodeImages, FileHashes } from '../batch/png-output.ts';
import { BadRequestError, type GenerateProgress, type GenerateRequest } from '../api.ts';
import { RemoteJobDataSchema, type RemoteJobData, type RemoteJobResult } from './job-data.ts';
import { completionsKey, listModelQueues, modelKeyLabel, type ModelKey } from './names.ts';

export interface RedisWorkerOptions {
  /** A connected Redis (see connection.ts); the worker duplicates it for its blocking reads. */
  redis: Redis;
  queue: string;
  /** Jobs run side by side, each in its own engine host (each loads the model). */
  concurrency: number;
  /** Starts an engine host: the worker's one way into the engine (default: a worker-thread host). */
  newEngine?: () => BatchEngine;
  /** Runs every job on this execution provider, whatever the request says. */
  ep?: GenerateRequest['ep'];
  /** Shown by `studio queue status` and the app. */
  name?: string;
  studioVersion: string;
  /** How long a job's lock lives without renewal: a dead worker's job is taken over after about this long. */
  stallSeconds?: number;
  /** How often the worker looks at the other model queues. */
  lookEveryMs?: number;
  log?: (line: string) => void;
}

const PROGRESS_EVERY_MS = 250;

export class RedisWorker {
  private current?: { name: string; key: ModelKey; worker: Worker<RemoteJobData, RemoteJobResult> };
  private readonly queues = new Map<string, Queue>();
  private readonly engines: BatchEngine[] = [];
  private readonly idleEngines: BatchEngine[] = [];
  private readonly hashes = new FileHashes();
  private active = 0;
  private looking = false;
  private stopped = false;
  private timer?: NodeJS.Timeout;
  private lastError = '';
  readonly name: string;

  private constructor(private readonly o: RedisWorkerOptions) {
    this.name = o.name ?? `${hostname()}-${process.pid}`;
  }

  static async start(o: RedisWorkerOptions): Promise<RedisWorker> {
    const w = new RedisWorker(o);
    await w.look();
    w.timer = setInterval(() => void w.look(), o.lookEveryMs ?? 1000);
    return w;
  }

  /** The model queue this worker takes jobs from now. */
  get modelQueue(): string | undefined {
    return this.current?.name;
  }

  /** Finishes the jobs it is running, then stops taking jobs and closes its engine hosts. */
  async close(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.current?.worker.close();
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    await Promise.all(this.engines.map((e) => e.close()));
  }

  private queue(name: string): Queue {
    let q = this.queues.get(name);
    if (!q) this.queues.set(name, (q = new Queue(name, { connection: this.o.redis })));
    return q;
  }

  /** Stays on the current model while it has work; otherwise moves to the model queue with most jobs waiting. */
  private async look(): Promise<void> {
    if (this.looking || this.stopped) return;
    this.looking = true;
    try {
      const models = await listModelQueues(this.o.redis, this.o.queue);
      const waiting = new Map<string, number>();
      for (const name of models.keys()) waiting.set(name, await this.queue(name).getJobCountByTypes('waiting', 'prioritized'));
      const current = this.current?.name;
      if (current !== undefined && (this.active > 0 || (waiting.get(current) ?? 0) > 0)) return;
      let best: string | undefined;
      for (const [name, n] of waiting) if (n > 0 && (best === undefined || n > waiting.get(best)!)) best = name;
      // A queue with running jobs but no worker: its worker died. Joining it runs BullMQ's stalled check there.
      if (best === undefined) {
        for (const name of models.keys()) {
          if (name !== current && (await this.queue(name).getActiveCount()) > 0 && (await this.queue(name).getWorkersCount()) === 0) best = name;
        }
      }
      if (best !== undefined && best !== current) await this.switchTo(best, models.get(best)!);
    } catch (e) {
      this.report(`cannot look at the queues: ${(e as Error).message}`);
    } finally {
      this.looking = false;
    }
  }

  private async switchTo(name: string, key: ModelKey): Promise<void> {
    const previous = this.current;
    this.current = undefined;
    await previous?.worker.close();
    if (this.stopped) return;
    const stallMs = (this.o.stallSeconds ?? 30) * 1000;
    const worker = new Worker<RemoteJobData, RemoteJobResult>(name, (job, _token, signal) => this.process(job, signal), {
      connection: this.o.redis,
      concurrency: this.o.concurrency,
      name: this.name,
      lockDuration: stallMs,
      stalledInterval: stallMs,
      maxStalledCount: 2,
    });
    worker.on('completed', (job) => {
      void this.o.redis.hincrby(completionsKey(this.o.queue), job.id!, 1).catch((e: Error) => this.report(`cannot count job ${job.id}: ${e.message}`));
      this.o.log?.(`job ${job.id!.slice(0, 12)} done in ${(job.returnvalue.ms / 1000).toFixed(2)} s (${job.returnvalue.images.length} image(s))`);
    });
    worker.on('failed', (job, e) => this.o.log?.(`job ${job?.id?.slice(0, 12)} failed (attempt ${job?.attemptsMade} of ${job?.opts.attempts ?? 1}): ${e.message}`));
    worker.on('error', (e) => this.report(e.message));
    this.current = { name, key, worker };
    this.o.log?.(`taking jobs for ${modelKeyLabel(key)} from ${name}`);
  }

  /** Errors of a Redis outage repeat every few milliseconds: say each once. */
  private report(message: string): void {
    if (message === this.lastError) return;
    this.lastError = message;
    this.o.log?.(message);
  }

  private async process(job: Job<RemoteJobData, RemoteJobResult>, signal?: AbortSignal): Promise<RemoteJobResult> {
    const started = performance.now();
    const data = RemoteJobDataSchema.safeParse(job.data);
    if (!data.success) throw new UnrecoverableError(`job ${job.id}: its data is not a studio generate request: ${z.prettifyError(data.error)}`);
    const request: GenerateRequest = this.o.ep ? { ...data.data.request, ep: this.o.ep } : data.data.request;
    const engine = this.idleEngines.pop() ?? this.newEngine();
    this.active++;
    let lastProgress = 0;
    const onProgress = ({ phase, step, total }: GenerateProgress) => {
      if (performance.now() - lastProgress < PROGRESS_EVERY_MS) return;
      lastProgress = performance.now();
      void job.updateProgress({ phase, step, total }).catch(() => {});
    };
    try {
      const result = await engine.run(request, { signal: signal ?? new AbortController().signal, onProgress });
      const images = await encodeImages(request, result, this.hashes, this.o.studioVersion);
      return {
        images: images.map(({ png, ...image }) => ({ ...image, png: Buffer.from(png).toString('base64') })),
        model: result.model.name,
        ep: result.ep,
        worker: this.name,
        ms: performance.now() - started,
      };
    } catch (e) {
      // Retrying cannot help a request the engine refuses (a model this worker cannot load, …).
      if (e instanceof BadRequestError) throw new UnrecoverableError(e.message);
      throw e;
    } finally {
      this.active--;
      this.idleEngines.push(engine);
    }
  }

  private newEngine(): BatchEngine {
    const engine = (this.o.newEngine ?? engineHost)();
    this.engines.push(engine);
    return engine;
  }
}
