// `studio batch FILE [generate options] --out DIR`: many images from a prompt file and/or a sweep,
// resumable through the manifest (the queue journal) in the output folder.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { basename, resolve } from 'node:path';
import { AxisError, AXIS_NAMES, parseAxis, type Axis } from '../../pipelines/jobs/batch/axes.ts';
import { engineHost, type BatchEngine } from '../../pipelines/jobs/batch/engines.ts';
import { planBatch, type BatchPlan } from '../../pipelines/jobs/batch/plan.ts';
import { BatchFileError, readBatchRows, type BatchRow } from '../../pipelines/jobs/batch/rows.ts';
import { runBatch, type BatchEvent, type BatchOutcome } from '../../pipelines/jobs/batch/runner.ts';
import { PresetLookupError, PresetRegistry } from '../../pipelines/plugins/index.ts';
import type { GenerateRequest } from '../../pipelines/jobs/api.ts';
import { redisLabel } from '../../pipelines/jobs/redis/connection.ts';
import { runRemoteBatch } from '../../pipelines/jobs/redis/batch.ts';
import { cancelOnSignals } from './cancel-on-signals.ts';
import { parseCommandLine, stringOptions } from './command-line.ts';
import { connectForCommand, REDIS_OPTIONS, redisTarget, type RedisTarget } from './redis-args.ts';
import { EXIT_CANCELLED, EXIT_FAILURE, EXIT_OK, UsageError } from './exit-codes.ts';
import { DEFAULT_OUT, OPTIONS as GENERATE_OPTIONS, parseGenerateArgs, parseProgressMode } from './generate-args.ts';
import { pluginDiscovery } from './presets-command.ts';
import { progressOnStderr, type ProgressMode } from './progress-report.ts';
import { STUDIO_VERSION } from './version.ts';

export const BATCH_HELP = `Usage: studio batch [FILE] [generate options] [--x NAME=V1,V2,…] [--y NAME=V1,…] --out DIR

Generates one image (or --batch N) per row of FILE, with the generate options given here as every
row's defaults (see "studio generate --help"). Without FILE, the one --prompt is the only row.

FILE:
  .txt     one prompt per line; blank lines and lines starting with # are skipped; a line starting
           with -- holds options instead: --prompt "a red fox" --steps 30 --seed 7
  .csv     a header of option names (prompt, negative, seed, cfg, steps, sampler, width, height,
           preset, …), then one row per job; an empty cell keeps the default
  .jsonl   one JSON object per line: {"prompt": "a red fox", "cfg": 6, "seed": 7}

Sweeps (a labelled contact sheet per row, grid-NNNN-….png):
  --x NAME=V1,V2,…       column values; NAME is one of ${AXIS_NAMES.join(', ')}
  --y NAME=V1,V2,…       row values, e.g. --x cfg=3,5,7 --y seed=1,2,3
                         (heads: head preset names from plugins, or none)

Batch options:
  -o, --out DIR          Output folder (default ${DEFAULT_OUT}); it holds the manifest
                         .studio-queue.jsonl, so running the same command again after a crash or
                         Ctrl-C makes only the images still missing
  --workers N            Engine hosts generating side by side (default 1, at most the CPU count);
                         each loads the model, so it needs N times the memory
  --redis URL            Spread the batch over "studio worker" processes through this Redis server
                         (e.g. redis://127.0.0.1:6379) instead of running it here; each image is
                         written into --out as it arrives; a rerun adds nothing already queued or done
  --queue NAME           The Redis queue (default studio)
  --detach               With --redis: only add the jobs, and exit; run the same command without
                         --detach later to collect the images
  --preset NAME          A style and/or sampler preset applied to every row (rows may set their own)
  --json                 Print a summary as JSON on stdout: files, seeds, job ids, timings
  --progress MODE        bar, lines ("images 3/20", one per image) or none; default bar on a
                         terminal, lines otherwise
  -h, --help             Show this help

Images are named NNNNN-SEED-ID.png (ID: the start of the job's id, a hash of its full request). A row
without a seed gets one derived from its settings, so reruns and sweeps are reproducible.

Exit codes: 0 all done, 1 some images failed, 2 bad usage (every bad row is listed with its line),
130 cancelled (what was finished is kept).
`;

const BATCH_OPTIONS = {
  ...GENERATE_OPTIONS,
  ...stringOptions('x', 'y', 'workers'),
  ...REDIS_OPTIONS,
  detach: { type: 'boolean' },
} as const;

/** Options that are the batch's own, not defaults for the rows. */
const NOT_ROW_DEFAULTS = new Set(['out', 'json', 'progress', 'help', 'x', 'y', 'workers', 'redis', 'queue', 'detach']);
const ROW_OPTIONS = new Set(Object.keys(GENERATE_OPTIONS).filter((k) => !NOT_ROW_DEFAULTS.has(k)));

interface BatchArgs {
  file?: string;
  out: string;
  json: boolean;
  workers: number;
  x?: Axis;
  y?: Axis;
  defaults: Record<string, string>;
  redis?: RedisTarget;
  detach: boolean;
  progress?: ProgressMode;
}

function parseBatchArgs(argv: string[]): BatchArgs | 'help' {
  const { values, positionals } = parseCommandLine(argv, BATCH_OPTIONS, { positionals: true, negativeNumbers: true });
  if (values.help) return 'help';
  if (positionals.length > 1) throw new UsageError(`one batch file at a time, got ${positionals.length}: ${positionals.join(' ')} (quote prompts and give them with --prompt)`);
  const workers = Number(values.workers ?? 1);
  const cores = availableParallelism();
  if (!Number.isInteger(workers) || workers < 1) throw new UsageError(`--workers: expected a whole number of at least 1, got ${JSON.stringify(values.workers)}`);
  if (workers > cores) throw new UsageError(`--workers ${workers}: this machine has ${cores} CPU cores; use at most ${cores}`);
  let x: Axis | undefined;
  let y: Axis | undefined;
  try {
    x = values.x === undefined ? undefined : parseAxis('--x', values.x);
    y = values.y === undefined ? undefined : parseAxis('--y', values.y);
  } catch (e) {
    throw e instanceof AxisError ? new UsageError(e.message) : e;
  }
  if (x && y && x.name === y.name) throw new UsageError(`--x and --y both sweep ${x.name}; sweep two different settings`);
  if (values.redis === undefined && (values.queue !== undefined || values.detach)) throw new UsageError(`--${values.detach ? 'detach' : 'queue'} needs --redis URL`);
  if (values.redis !== undefined && values.workers !== undefined) throw new UsageError('--workers is for a batch run here; with --redis, start "studio worker" processes instead');
  const redis = values.redis === undefined ? undefined : redisTarget(values);
  const defaults: Record<string, string> = {};
  for (const [k, v] of Object.entries(values)) if (ROW_OPTIONS.has(k) && typeof v === 'string') defaults[k] = v;
  const progress = parseProgressMode(values.progress);
  return { file: positionals[0], out: values.out ?? DEFAULT_OUT, json: values.json ?? false, workers, x, y, defaults, redis, detach: values.detach ?? false, progress };
}

/** Each engine host loads the model: refuse more hosts than the memory holds. */
function checkMemory(args: BatchArgs): void {
  if (args.workers === 1) return;
  const model = args.defaults.model;
  const size = model !== undefined && existsSync(model) && statSync(model).isFile() ? statSync(model).size : 0;
  const needed = args.workers * size * 1.5;
  if (needed > totalmem()) {
    const GiB = (n: number) => `${(n / 2 ** 30).toFixed(1)} GiB`;
    throw new UsageError(`--workers ${args.workers}: each host loads ${basename(model!)} (${GiB(size)}); ${args.workers} need about ${GiB(needed)} but this machine has ${GiB(totalmem())}`);
  }
  if (args.defaults.ep !== undefined && args.defaults.ep !== 'cpu') process.stderr.write(`studio batch: note: ${args.workers} hosts share one ${args.defaults.ep} device; expect less than ${args.workers}x\n`);
}

async function makePlan(args: BatchArgs): Promise<BatchPlan> {
  let rows: BatchRow[];
  let source: string;
  if (args.file === undefined) {
    if (args.defaults.prompt === undefined) throw new UsageError('give a batch file, or a --prompt to sweep');
    rows = [{ line: 0, options: {} }];
    source = 'options';
  } else {
    if (!existsSync(args.file) || !statSync(args.file).isFile()) throw new UsageError(`${args.file}: no such file`);
    source = args.file;
    rows = readBatchRows(readFileSync(args.file, 'utf8'), args.file, ROW_OPTIONS);
  }
  const parse = async (options: Record<string, string>): Promise<GenerateRequest> => {
    const parsed = await parseGenerateArgs(Object.entries(options).map(([k, v]) => `--${k}=${v}`));
    if (parsed.help) throw new Error('help is not a row option');
    return parsed.request;
  };
  const headPreset = (name: string) => {
    try {
      return new PresetRegistry(pluginDiscovery()).resolve(name, ['head'])[0].value;
    } catch (e) {
      throw e instanceof PresetLookupError ? new Error(`heads: ${e.message}`) : e;
    }
  };
  return planBatch(rows, { source, defaults: args.defaults, x: args.x, y: args.y, parse, headPreset });
}


function report(outcome: BatchOutcome, out: string, seconds: number, made: number) {
  const count = (s: string) => outcome.jobs.filter((j) => j.status === s).length;
  const images = outcome.jobs.filter((j) => j.status === 'done').reduce((n, j) => n + j.files.length, 0);
  return {
    out: resolve(out),
    manifest: outcome.manifest,
    total: outcome.jobs.length,
    done: count('done'),
    alreadyDone: outcome.alreadyDone,
    ran: outcome.ran,
    failed: count('failed'),
    left: count('queued') + count('running'),
    cancelled: outcome.cancelled,
    images,
    sheets: outcome.sheets,
    seconds: Math.round(seconds * 100) / 100,
    imagesMade: made,
    imagesPerMinute: made && seconds > 0 ? Math.round((made / seconds) * 60 * 10) / 10 : 0,
    jobs: outcome.jobs,
    warnings: outcome.warnings,
  };
}

/** A batch's outcome; `detached`: the jobs were only added to Redis. */
type Outcome = BatchOutcome & { detached?: boolean };

async function runHere(args: BatchArgs, plan: BatchPlan, signal: AbortSignal, onEvent: (e: BatchEvent) => void): Promise<BatchOutcome> {
  const engines: BatchEngine[] = Array.from({ length: Math.min(args.workers, plan.jobs.length) }, () => engineHost());
  try {
    return await runBatch({ out: resolve(args.out), plan, engines, signal, studioVersion: STUDIO_VERSION, onEvent });
  } finally {
    await Promise.all(engines.map((e) => e.close()));
  }
}

/** The same batch through Redis and "studio worker" processes; the outcome in the local batch's terms. */
async function runOnRedis(args: BatchArgs, target: RedisTarget, plan: BatchPlan, signal: AbortSignal, onEvent: (e: BatchEvent) => void): Promise<Outcome> {
  const redis = await connectForCommand('studio batch', target);
  try {
    const log = (line: string) => process.stderr.write(`studio batch: ${line}\n`);
    const o = await runRemoteBatch({ redis, queue: target.queue, out: resolve(args.out), plan, signal, detach: args.detach, onEvent, log });
    // `ran` counts jobs added for a detached run, jobs collected otherwise.
    return { manifest: `${redisLabel(target.url)} queue ${target.queue}`, jobs: o.jobs, alreadyDone: o.alreadyDone, ran: o.detached ? o.enqueued : o.ran, sheets: o.sheets, cancelled: o.cancelled, warnings: [], detached: o.detached };
  } finally {
    redis.disconnect();
  }
}

export async function batchCommand(argv: string[]): Promise<number> {
  const args = parseBatchArgs(argv);
  if (args === 'help') {
    process.stdout.write(BATCH_HELP);
    return EXIT_OK;
  }
  let plan: BatchPlan;
  try {
    plan = await makePlan(args);
  } catch (e) {
    if (e instanceof BatchFileError) throw new UsageError(e.message);
    throw e;
  }
  checkMemory(args);

  const started = performance.now();
  const controller = new AbortController();
  const stopListening = cancelOnSignals(controller, '; finished images are kept');
  const bar = progressOnStderr(args.progress);
  let done = 0;
  let made = 0;
  let total = plan.jobs.length;
  const show = () => bar?.update({ phase: 'images', step: done, total });
  const onEvent = (e: BatchEvent): void => {
    if (e.type === 'planned') {
      done = e.alreadyDone;
      total = e.total;
      if (done) process.stderr.write(`studio batch: ${done} of ${total} jobs are already done in ${args.out}; making the other ${total - done}\n`);
    } else if (e.type === 'done') {
      done++;
      made += e.files.length;
      bar?.done();
      if (!args.json) process.stdout.write(e.files.map((f) => `${resolve(args.out, f)}\n`).join(''));
    } else if (e.type === 'failed') {
      bar?.done();
      process.stderr.write(`studio batch: job ${e.job.index} (${args.file ?? 'options'}${e.job.line ? `:${e.job.line}` : ''}) failed: ${e.error}\n`);
    } else if (e.type === 'sheet') {
      bar?.done();
      if (!args.json) process.stdout.write(`${resolve(args.out, e.file)}\n`);
    }
    show();
  };
  let outcome: Outcome;
  try {
    outcome = args.redis ? await runOnRedis(args, args.redis, plan, controller.signal, onEvent) : await runHere(args, plan, controller.signal, onEvent);
  } finally {
    bar?.done();
    stopListening();
  }
  if (outcome.detached) {
    const queued = outcome.jobs.filter((j) => j.status !== 'done').length;
    process.stderr.write(`studio batch: added ${outcome.ran} job(s) to queue ${args.redis!.queue} (${queued} not done in all); run the same command without --detach to collect the images\n`);
    if (args.json) process.stdout.write(`${JSON.stringify(report(outcome, args.out, 0, 0))}\n`);
    return EXIT_OK;
  }
  const summary = report(outcome, args.out, (performance.now() - started) / 1000, made);
  if (args.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  for (const w of outcome.warnings) process.stderr.write(`studio batch: warning: ${w}\n`);
  if (summary.cancelled) {
    process.stderr.write(`studio batch: cancelled with ${summary.done} of ${summary.total} jobs done; run the same command again to make the other ${summary.total - summary.done}\n`);
    return EXIT_CANCELLED;
  }
  if (!args.json) process.stderr.write(`studio batch: ${summary.images} images in ${summary.out} (${summary.ran} made now, ${summary.alreadyDone} already there)${summary.ran ? `, ${summary.imagesPerMinute} images/min` : ''}\n`);
  if (summary.failed) {
    process.stderr.write(`studio batch: ${summary.failed} job(s) failed; run the same command again to retry them\n`);
    return EXIT_FAILURE;
  }
  if (summary.left) {
    process.stderr.write(`studio batch: ${summary.left} job(s) are being run by another studio process writing to ${args.out}\n`);
    return EXIT_FAILURE;
  }
  return EXIT_OK;
}
