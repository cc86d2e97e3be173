// How front ends submit jobs to the engine host: the CLI (a worker-thread host), the studio server
// (a child process), batch (several worker hosts) and the Electron main process (a utility process).
// The host runs ./run.ts; errors come back as data and are rethrown here with their meaning kept.
import { EngineClient, HostCrashedError, JobFailedError, type HostEvent } from '../host/client.ts';
import { JobCancelledError } from '../host/jobs.ts';
import type { HostLauncher } from '../host/launchers.ts';
import type { Progress } from '../host/protocol.ts';
import { BadRequestError, type JobInput, type JobKind, type JobListeners, type JobProgress, type JobResult, type Rgb8 } from './api.ts';
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

function rgb8(value: unknown, key: 'preview' | 'stageImage' = 'preview'): Rgb8 | undefined {
  const p = (value as Record<string, { width?: unknown; height?: unknown; pixels?: unknown } | undefined> | undefined)?.[key];
  if (!p || typeof p.width !== 'number' || typeof p.height !== 'number' || !(p.pixels instanceof Uint8Array)) return undefined;
  return p.pixels.length === p.width * p.height * 3 ? { width: p.width, height: p.height, pixels: p.pixels } : undefined;
}

/** A ladder's stage and finished stage image riding on a progress message (checked: the host is another process). */
function ladderFields(value: unknown): Pick<JobProgress, 'stage' | 'stageImage'> {
  const data = value as { stage?: Record<string, unknown>; stageImage?: { batchIndex?: unknown } } | undefined;
  const s = data?.stage;
  const ints = (o: Record<string, unknown> | undefined, keys: string[]) => !!o && keys.every((k) => Number.isInteger(o[k]));
  const strength = typeof s?.strength === 'number' ? { strength: s.strength } : {};
  const stage = ints(s, ['index', 'count', 'width', 'height']) ? { index: s!.index as number, count: s!.count as number, width: s!.width as number, height: s!.height as number, ...strength } : undefined;
  const image = rgb8(value, 'stageImage');
  const batchIndex = data?.stageImage?.batchIndex;
  return { ...(stage ? { stage } : {}), ...(image && Number.isInteger(batchIndex) ? { stageImage: { ...image, batchIndex: batchIndex as number } } : {}) };
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
      if (p.step !== undefined || p.total !== undefined) l.progress?.({ phase: p.message ?? 'denoise', step: p.step ?? 0, total: p.total ?? 0, ...ladderFields(p.data) });
    };
    try {
      return (await this.client.run('engine.run', job, { signal: l.signal, onProgress })) as JobResult<K>;
    } catch (e) {
      if (!(e instanceof JobFailedError)) throw e;
      // Bad requests keep their meaning (the CLI's exit code 2, the API's `bad-request`).
      // A prompt the parser refuses is a bad request too (the CLI's exit code 2).
      if (e.remote.name === 'BadRequestError' || e.remote.name === 'PromptError') throw new BadRequestError(e.remote.message);
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
