// The `studio` command line. Exit codes are listed in exit-codes.ts (0 ok, 1 runtime failure,
// 2 bad usage, 130 cancelled).
import { BadRequestError } from '../../pipelines/jobs/api.ts';
import { CancelledError, EXIT_CANCELLED, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError } from './exit-codes.ts';
import { generateHelp, mainHelp, registeredFamilies } from './help.ts';
import { STUDIO_VERSION } from './version.ts';
import { SERVE_HELP } from './serve-command.ts';

// Loaded on use, so `studio --help` does not load sharp or the engine.
const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  generate: async (argv) => (await import('./generate-command.ts')).generateCommand(argv),
  heads: async (argv) => (await import('./heads-command.ts')).headsCommand(argv),
  serve: async (argv) => (await import('./serve-command.ts')).serveCommand(argv),
  story: async (argv) => (await import('./story-command.ts')).storyCommand(argv),
  batch: async (argv) => (await import('./batch-command.ts')).batchCommand(argv),
  presets: async (argv) => (await import('./presets-command.ts')).presetsCommand(argv),
  worker: async (argv) => (await import('./worker-command.ts')).workerCommand(argv),
  queue: async (argv) => (await import('./queue-command.ts')).queueCommand(argv),
  models: async (argv) => (await import('./models-command.ts')).modelsCommand(argv),
  upscale: async (argv) => (await import('./upscale-command.ts')).upscaleCommand(argv),
};

// Help texts, loaded on `studio help <command>` (generate's lists the registry's families).
const LAZY_HELP: Record<string, () => Promise<string>> = {
  generate: async () => generateHelp(await registeredFamilies()),
  serve: async () => SERVE_HELP,
  batch: async () => (await import('./batch-command.ts')).BATCH_HELP,
  presets: async () => (await import('./presets-command.ts')).PRESETS_HELP,
  worker: async () => (await import('./worker-command.ts')).WORKER_HELP,
  queue: async () => (await import('./queue-command.ts')).QUEUE_HELP,
  models: async () => (await import('./models-command.ts')).MODELS_HELP,
  upscale: async () => (await import('./upscale-command.ts')).UPSCALE_HELP,
};

async function dispatch(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    process.stderr.write(mainHelp(await registeredFamilies()));
    return EXIT_USAGE;
  }
  if (first === '-h' || first === '--help') {
    process.stdout.write(mainHelp(await registeredFamilies()));
    return EXIT_OK;
  }
  if (first === '-v' || first === '--version') {
    process.stdout.write(`${STUDIO_VERSION}\n`);
    return EXIT_OK;
  }
  if (first === 'help') {
    const topic = rest[0];
    if (topic !== undefined && !(topic in COMMANDS)) throw new UsageError(`no command "${topic}"; commands: ${Object.keys(COMMANDS).join(', ')}`);
    if (topic !== undefined && !(topic in LAZY_HELP)) return COMMANDS[topic](['--help']);
    process.stdout.write(topic === undefined ? mainHelp(await registeredFamilies()) : await LAZY_HELP[topic]());
    return EXIT_OK;
  }
  const command = COMMANDS[first];
  if (!command) throw new UsageError(`unknown command "${first}"; commands: ${Object.keys(COMMANDS).join(', ')}`);
  return command(rest);
}

export async function main(argv: string[]): Promise<number> {
  const command = argv[0] && argv[0] in COMMANDS ? `studio ${argv[0]}` : 'studio';
  try {
    return await dispatch(argv);
  } catch (e) {
    const err = e as Error;
    if (err instanceof UsageError || err instanceof BadRequestError) {
      process.stderr.write(`${command}: ${err.message}\nRun "${command} --help" for the options.\n`);
      return EXIT_USAGE;
    }
    if (err instanceof CancelledError) {
      process.stderr.write(`${command}: ${err.message}\n`);
      return EXIT_CANCELLED;
    }
    process.stderr.write(`${command}: error: ${err?.message ?? String(e)}\n`);
    if (process.env.STUDIO_DEBUG) process.stderr.write(`${err?.stack ?? ''}\n`);
    return EXIT_FAILURE;
  }
}

process.exitCode = await main(process.argv.slice(2));
