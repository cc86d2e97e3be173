// `studio worker --redis URL`: runs generate jobs from a Redis queue until Ctrl-C.
import { EXECUTION_PROVIDERS, type GenerateRequest } from '../../pipelines/jobs/api.ts';
import { RedisWorker } from '../../pipelines/jobs/redis/worker.ts';
import { EXIT_OK, UsageError } from './exit-codes.ts';
import { connectForCommand, REDIS_HELP, REDIS_OPTIONS, redisTarget } from './redis-args.ts';
import { HELP_OPTION, parseCommandLine, stringOptions } from './command-line.ts';
import { STUDIO_VERSION } from './version.ts';

export const WORKER_HELP = `Usage: studio worker --redis URL [--queue NAME] [--concurrency N] [--ep EP] [--device-id N]

Takes generate jobs (from "studio batch --redis") out of a Redis queue and runs them, returning each
image's PNG file (with its metadata) in the job's result, so workers need no disk shared with the batch.
Start one per machine, or one per GPU. A worker keeps its model loaded: it takes jobs for the model it
has while there are any, then moves to the model with most jobs waiting. Jobs of a worker that dies
are taken over by another after --stall-seconds.

Options:
${REDIS_HELP}
  --concurrency N        Jobs run side by side, each in its own engine host (default 1)
  --ep EP                Run every job on this execution provider (${EXECUTION_PROVIDERS.join(', ')}),
                         whatever the request asked
  --device-id N          The GPU to use (sets CUDA_VISIBLE_DEVICES=N for this worker; one worker per GPU)
  --name NAME            Shown by "studio queue status" (default HOST-PID)
  --stall-seconds S      A job whose worker stops renewing its lock for S seconds is run again (default 30)
  -h, --help             Show this help

Redis down at start or later: the worker says so and reconnects with growing waits.
Ctrl-C finishes the running jobs and stops; a second Ctrl-C stops at once (the jobs are run again elsewhere).
`;

const OPTIONS = {
  ...REDIS_OPTIONS,
  ...stringOptions('concurrency', 'ep', 'device-id', 'name', 'stall-seconds'),
  ...HELP_OPTION,
} as const;

function wholeNumber(option: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${option}: expected a whole number of at least ${min}, got ${JSON.stringify(value)}`);
  return n;
}

export async function workerCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandLine(argv, OPTIONS, { positionals: false });
  if (values.help) {
    process.stdout.write(WORKER_HELP);
    return EXIT_OK;
  }
  const target = redisTarget(values);
  const concurrency = wholeNumber('concurrency', values.concurrency, 1, 1);
  const stallSeconds = wholeNumber('stall-seconds', values['stall-seconds'], 30, 1);
  const ep = values.ep as GenerateRequest['ep'] | undefined;
  if (ep !== undefined && !EXECUTION_PROVIDERS.includes(ep)) throw new UsageError(`--ep: expected one of ${EXECUTION_PROVIDERS.join(', ')}, got ${JSON.stringify(values.ep)}`);
  if (values['device-id'] !== undefined) {
    // CUDA (and ORT's CUDA provider) read this when they start, which is after this line.
    process.env.CUDA_VISIBLE_DEVICES = String(wholeNumber('device-id', values['device-id'], 0, 0));
  }

  const log = (line: string) => process.stderr.write(`studio worker: ${line}\n`);
  const redis = await connectForCommand('studio worker', target);
  const worker = await RedisWorker.start({ redis, queue: target.queue, concurrency, ep, name: values.name, studioVersion: STUDIO_VERSION, stallSeconds, log });
  log(`${worker.name} is waiting for jobs on queue ${target.queue}`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.once('SIGINT', () => process.exit(130));
      process.once('SIGTERM', () => process.exit(130));
      log('finishing the running jobs, then stopping (Ctrl-C again to stop now)');
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await worker.close();
  redis.disconnect();
  return EXIT_OK;
}
