// How front ends submit jobs to the engine host: the CLI (a worker-thread host), the studio server
// (a child process), batch (several worker hosts) and the Electron main process (a utility process).
// The host runs ./run.ts; errors come back as data and are rethrown here with their meaning kept.
import { EngineClient, HostCrashedError, JobFailedError, type HostEvent } from '../host/client.ts';
import { JobCancelledError } from '../host/jobs.ts';
import type { HostLauncher } from '../host/launchers.ts';
import type { Progress } from '../host/protocol.ts';
import { BadRequestError, type JobInput, type JobKind, type JobListeners, type JobResult, type Rgb8 } from './api.ts';
import type { jobs as engineJobs } from './run.ts';

export { HostCrashedError, JobCancelledError };
export type { HostEvent, HostLauncher };

// Under tsx (tests, `npm run studio`) this file is .ts and so is run.ts; compiled, both are .js.
const RUN_MODULE = new URL(import.meta.url.endsWith('.ts') ? './run.ts' : './run.js', import.meta.url);

export interface EngineJobsOptions {
  /** How the host is started (default: a child process; pipelines/host/launchers.ts). */
  host?: HostLauncher;
  /** The job module the host imports (default ./run.ts; the Electron app passes its bundle). */
  runModule?: string | URL;
  onEvent?: (e: HostEvent) => void;
}

/** The job ran in the host and threw; `message` is the host's. */
export class EngineJobError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EngineJobError';
  }
}

function rgb8(value: unknown): Rgb8 | undefined {
  const p = (value as { preview?: { width?: unknown; height?: unknown; pixels?: unknown } } | undefined)?.preview;
  if (!p || typeof p.width !== 'number' || typeof p.height !== 'number' || !(p.pixels instanceof Uint8Array)) return undefined;
  return p.pixels.length === p.width * p.height * 3 ? { width: p.width, height: p.height, pixels: p.pixels } : undefined;
}

export class EngineJobs {
  private readonly client: EngineClient<typeof engineJobs>;

  constructor(o: EngineJobsOptions = {}) {
    this.client = new EngineClient<typeof engineJobs>({ host: o.host, jobModules: [o.runModule ?? RUN_MODULE], onEvent: o.onEvent });
  }

  /** Runs a job in the host (queued behind the ones before it). */
  async submit<K extends JobKind>(job: JobInput & { kind: K }, l: JobListeners = {}): Promise<JobResult<K>> {
    const onProgress = (p: Progress) => {
      const preview = rgb8(p.data);
      if (preview) l.preview?.(preview);
      if (p.step !== undefined || p.total !== undefined) l.progress?.({ phase: p.message ?? 'denoise', step: p.step ?? 0, total: p.total ?? 0 });
    };
    try {
      return (await this.client.run('engine.run', job, { signal: l.signal, onProgress })) as JobResult<K>;
    } catch (e) {
      if (!(e instanceof JobFailedError)) throw e;
      // Bad requests keep their meaning (the CLI's exit code 2, the API's `bad-request`).
      if (e.remote.name === 'BadRequestError') throw new BadRequestError(e.remote.message);
      if (e.remote.name === 'JobCancelledError') throw new JobCancelledError(e.remote.message);
      throw new EngineJobError(e.remote.message);
    }
  }

  /** The host's built-in jobs: which execution providers work, and which one would be chosen. */
  providers(o: { refresh?: boolean; override?: string } = {}) {
    return this.client.run('host.providers', o);
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
