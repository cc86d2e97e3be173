// `studio serve [--port N] [--host ADDR] [--token T] [--models-dir D] [--outputs-dir D]`: the studio UI
// in a browser over the same API as the desktop app. Loopback only unless a token is given.
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { UsageError, EXIT_OK } from './exit-codes.ts';
import { REDIS_OPTIONS, redisTarget } from './redis-args.ts';
import { HELP_OPTION, stringOptions } from './command-line.ts';

export const SERVE_HELP = `Usage: studio serve [options]

Serves the studio's UI at http://127.0.0.1:7870 (the same UI as the desktop app).

Options:
  --port N            port to listen on (default 7870; 0 picks a free one)
  --host ADDR         address to bind (default 127.0.0.1); any other address needs --token
  --token T           access token required from browsers (put it in the URL: ?token=T)
  --models-dir DIR    where models are listed from (default ./models)
  --outputs-dir DIR   where images are written (default ./outputs)
  --redis URL         also show this Redis server's queue of "studio worker" processes
  --queue NAME        that queue's name (default studio)
  -h, --help          show this help
`;

export async function serveCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: { ...stringOptions('port', 'host', 'token', 'models-dir', 'outputs-dir'), ...REDIS_OPTIONS, ...HELP_OPTION },
  });
  if (values.help) {
    process.stdout.write(SERVE_HELP);
    return EXIT_OK;
  }
  const redis = values.redis === undefined && values.queue === undefined ? undefined : redisTarget(values);
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) throw new UsageError(`--port: expected a port number 0–65535, got ${values.port}`);
  const { startServer } = await import('../server/index.ts');
  const { resolve } = await import('node:path');
  const rendererDir = resolve(import.meta.dirname, '../../dist/renderer');
  if (!existsSync(rendererDir)) {
    process.stderr.write('Building the UI (first run)…\n');
    const { build } = await import('vite');
    await build({ configFile: resolve(import.meta.dirname, '../../vite.config.ts'), logLevel: 'warn' });
  }
  const server = await startServer({ port, host: values.host, token: values.token, modelsDir: values['models-dir'], outputsDir: values['outputs-dir'], rendererDir, redis });
  process.stdout.write(`Diffusion Studio is at ${server.url}\nPress Ctrl-C to stop.\n`);
  await new Promise<void>((done) => process.once('SIGINT', () => done()));
  await server.close();
  return EXIT_OK;
}
