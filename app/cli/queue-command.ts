// `studio queue status|retry-failed|drain --redis URL`: look after a Redis queue.
import { drain, queueStatus, retryFailed } from '../../pipelines/jobs/redis/admin.ts';
import { EXIT_OK, UsageError } from './exit-codes.ts';
import { HELP_OPTION, JSON_OPTION, parseCommandLine } from './command-line.ts';
import { connectForCommand, REDIS_HELP, REDIS_OPTIONS, redisTarget } from './redis-args.ts';

export const QUEUE_HELP = `Usage: studio queue status|retry-failed|drain --redis URL [--queue NAME] [--json]

  status         Each model's queue: jobs waiting, running, delayed (to be retried), done, failed,
                 and the workers taking from it
  retry-failed   Put every failed job back in its queue
  drain          Remove the jobs not started yet (running jobs finish)

Options:
${REDIS_HELP}
  --json                 Print the result as JSON
  -h, --help             Show this help
`;

const OPTIONS = { ...REDIS_OPTIONS, ...JSON_OPTION, ...HELP_OPTION } as const;
const ACTIONS = ['status', 'retry-failed', 'drain'];

export async function queueCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, OPTIONS, { positionals: true });
  if (values.help) {
    process.stdout.write(QUEUE_HELP);
    return EXIT_OK;
  }
  const action = positionals[0];
  if (positionals.length !== 1 || !ACTIONS.includes(action)) throw new UsageError(`expected one of ${ACTIONS.join(', ')}, got ${JSON.stringify(positionals.join(' '))}`);
  const target = redisTarget(values);
  // An admin command should not wait for Redis forever: three attempts (about 1.5 s), then an error.
  const redis = await connectForCommand('studio queue', target, 3);
  try {
    if (action === 'status') {
      const status = await queueStatus(redis, target.queue);
      if (values.json) process.stdout.write(`${JSON.stringify(status)}\n`);
      else {
        if (status.models.length === 0) process.stdout.write(`queue ${target.queue}: no jobs were ever added\n`);
        for (const m of status.models) {
          const c = m.counts;
          process.stdout.write(`${m.name}  (${m.model})\n  waiting ${c.waiting}  running ${c.active}  to retry ${c.delayed}  done ${c.completed}  failed ${c.failed}\n  workers: ${m.workers.join(', ') || 'none'}\n`);
        }
        process.stdout.write(`completed all time: ${status.completions}\n`);
      }
    } else {
      const n = action === 'drain' ? await drain(redis, target.queue) : await retryFailed(redis, target.queue);
      if (values.json) process.stdout.write(`${JSON.stringify({ [action === 'drain' ? 'removed' : 'retried']: n })}\n`);
      else process.stdout.write(action === 'drain' ? `removed ${n} job(s) not started yet\n` : `put ${n} failed job(s) back in their queues\n`);
    }
  } finally {
    redis.disconnect();
  }
  return EXIT_OK;
}
