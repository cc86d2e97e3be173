// How a client starts an engine host: in a worker thread or in a child process. (The Electron app adds
// a third launcher around `utilityProcess.fork`; the host side already speaks to `process.parentPort`.)
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import type { ClientMessage } from './protocol.ts';

export interface HostConnection {
  readonly kind: 'worker' | 'child-process' | 'utility-process';
  post(message: ClientMessage): void;
  onMessage(listener: (message: unknown) => void): void;
  /** Called once when the host is gone, with how it ended ("was killed by SIGKILL", ...). */
  onExit(listener: (how: string) => void): void;
  /** Ends the host at once, even inside a native session run; resolves when it is gone. */
  kill(): Promise<void>;
}

export type HostLauncher = () => HostConnection;

// Under tsx (tests, `npm run studio`) this file is .ts and so is the entry; compiled, both are .js.
const fromSource = import.meta.url.endsWith('.ts');
const entryUrl = new URL(fromSource ? './entry.ts' : './entry.js', import.meta.url);

/** A worker thread running `entry` (a .ts module under tsx, tests and `npm run studio`; .js compiled). */
export function startWorker(entry: URL, options: WorkerOptions = {}): Worker {
  // Node 20 does not apply `--import tsx` to workers, so register tsx inside the worker first.
  if (!entry.href.endsWith('.ts')) return new Worker(entry, options);
  const code = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => m.register()).then(() => import(${JSON.stringify(entry.href)}))`;
  return new Worker(code, { ...options, eval: true });
}

/**
 * A host in a worker thread: cheap to start and shares the process. A native crash (an abort inside ORT)
 * takes the whole process down with it, and glibc's MALLOC_TRIM_THRESHOLD_ cannot be set per thread, so
 * released sessions give memory back only if the whole process was started with it.
 */
export function workerHost(): HostLauncher {
  return () => {
    const worker = startWorker(entryUrl);
    let error: Error | undefined;
    worker.on('error', (e) => (error = e));
    const exited = new Promise<string>((resolve) => {
      worker.on('exit', (code) => resolve(error ? `threw ${error.name}: ${error.message}` : `exited with code ${code}`));
    });
    return {
      kind: 'worker',
      post: (m) => worker.postMessage(m),
      onMessage: (l) => worker.on('message', l),
      onExit: (l) => void exited.then(l),
      kill: async () => {
        await worker.terminate();
        await exited;
      },
    };
  };
}

export interface ProcessHostOptions {
  /** Added to (or, with `undefined`, removed from) the host's environment. */
  env?: Record<string, string | undefined>;
}

/**
 * A host in a child process: a crash inside it, even a native abort, leaves the client running. Its environment sets
 * MALLOC_TRIM_THRESHOLD_=0 before it starts, so released sessions give their memory back to the OS.
 */
export function processHost(o: ProcessHostOptions = {}): HostLauncher {
  return () => {
    const child = fork(fileURLToPath(entryUrl), [], {
      env: { ...process.env, MALLOC_TRIM_THRESHOLD_: '0', ...o.env },
      execArgv: fromSource ? ['--import', import.meta.resolve('tsx')] : [],
      // Structured clone, so typed arrays (latents, images) cross as typed arrays.
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    // A host must not outlive its client: when the client exits at once (a second Ctrl-C), the host
    // may be inside a native call for many seconds and would notice the closed channel only after it.
    const killWithClient = (): void => void child.kill('SIGKILL');
    process.on('exit', killWithClient);
    const exited = new Promise<string>((resolve) => {
      child.on('exit', (code, signal) => resolve(signal ? `was killed by ${signal}` : `exited with code ${code}`));
      child.on('error', (e) => resolve(`could not be started: ${e.message}`));
    });
    void exited.then(() => process.off('exit', killWithClient));
    return {
      kind: 'child-process',
      post: (m) => {
        if (child.connected) child.send(m);
      },
      onMessage: (l) => child.on('message', l),
      onExit: (l) => void exited.then(l),
      kill: async () => {
        child.kill('SIGKILL');
        await exited;
      },
    };
  };
}
