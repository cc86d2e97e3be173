// A real `studio serve` process for the live fuzz targets: started on a free port with its own
// temporary folders, watched for an unexpected exit, and asked after every input whether it still
// answers (a canary WebSocket client calling `info`). The engine host runs test/e2e-engine.ts (the
// e2e tests' engine: a real step loop, tiny images), so queued generations finish in milliseconds and
// the fuzzer measures the server, not the diffusion models (their file parsers are targets of their own).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The server process ended while fuzz inputs were sent: a crash, whatever the input was. */
export class ServerDiedError extends Error {
  constructor(how: string, stderrTail: string) {
    super(`studio serve ${how}; its last stderr:\n${stderrTail}`);
    this.name = 'ServerDiedError';
  }
}

/** The server did not answer within the deadline: counted as a hang, not a crash. */
export class ServerStalledError extends Error {
  constructor(what: string, ms: number) {
    super(`studio serve did not ${what} within ${ms} ms`);
    this.name = 'ServerStalledError';
  }
}

/** Rejects with ServerStalledError when `promise` takes longer than `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new ServerStalledError(what, ms)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

export class LiveStudio {
  private child?: ChildProcess;
  private died?: string;
  private stderr = '';
  private dir = '';
  private canarySocket?: WebSocket;
  private nextId = 1;
  port = 0;
  token = '';
  /** The largest resident set any of this target's server processes reached (VmHWM), in MiB. */
  peakRssMiB = 0;

  /** Starts the server (again, after a crash) and connects the canary. */
  async start(): Promise<void> {
    this.dir = mkdtempSync(join(tmpdir(), 'studio-fuzz-live-'));
    this.died = undefined;
    this.stderr = '';
    const child = spawn(process.execPath, [join(ROOT, 'app/cli/studio.js'), 'serve', '--port', '0', '--models-dir', join(this.dir, 'models'), '--outputs-dir', join(this.dir, 'outputs')], {
      cwd: this.dir,
      env: { ...process.env, STUDIO_TEST_ENGINE: join(ROOT, 'test/e2e-engine.ts'), STUDIO_TEST_ENGINE_STEP_MS: '0', STUDIO_PLUGINS_DIR: join(this.dir, 'plugins') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stderr!.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)));
    child.on('exit', (code, signal) => (this.died = signal ? `was killed by ${signal}` : `exited with code ${code}`));
    const url = await within(
      new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /Diffusion Studio is at (\S+)/.exec(out);
          if (m) resolve(m[1]);
        });
        child.on('exit', () => reject(new ServerDiedError(this.died ?? 'ended', this.stderr)));
      }),
      120_000,
      'start',
    );
    const parsed = new URL(url);
    this.port = Number(parsed.port);
    this.token = parsed.searchParams.get('token')!;
    this.canarySocket = await this.connect();
  }

  /** A WebSocket client on the API, as the UI opens it. */
  connect(): Promise<WebSocket> {
    return within(
      new Promise<WebSocket>((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${this.port}/api?token=${this.token}`);
        ws.on('open', () => resolve(ws));
        ws.on('error', reject);
      }),
      10_000,
      'accept a WebSocket client',
    );
  }

  /** Throws ServerDiedError when the process has ended (and starts a fresh one for the next input). */
  async checkAlive(): Promise<void> {
    if (this.died === undefined) return;
    const error = new ServerDiedError(this.died, this.stderr);
    await this.stop();
    await this.start();
    throw error;
  }

  /** The canary's `info` call is answered; a closed canary is reopened first. */
  async canary(deadlineMs: number): Promise<void> {
    await this.checkAlive();
    if (this.canarySocket?.readyState !== WebSocket.OPEN) this.canarySocket = await this.connect();
    const ws = this.canarySocket;
    const id = this.nextId++;
    await within(
      new Promise<void>((resolve, reject) => {
        const onMessage = (raw: Buffer): void => {
          if ((JSON.parse(raw.toString()) as { id?: number }).id !== id) return;
          done();
          resolve();
        };
        const onClose = (): void => {
          done();
          reject(new Error('the server closed the canary connection'));
        };
        const done = (): void => void ws.off('message', onMessage).off('close', onClose);
        ws.on('message', onMessage).on('close', onClose);
        ws.send(JSON.stringify({ type: 'call', id, method: 'info', params: {} }));
      }),
      deadlineMs,
      'answer the canary client',
    ).catch(async (e: unknown) => {
      ws.terminate(); // the next canary call opens a fresh connection
      await this.checkAlive();
      throw e;
    });
  }

  async stop(): Promise<void> {
    this.canarySocket?.terminate();
    const child = this.child;
    this.notePeakRss();
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGINT');
      await within(gone, 20_000, 'stop on SIGINT').catch(() => child.kill('SIGKILL'));
    }
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }

  private notePeakRss(): void {
    try {
      const kib = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${this.child?.pid}/status`, 'utf8'))?.[1]);
      if (Number.isFinite(kib)) this.peakRssMiB = Math.max(this.peakRssMiB, kib / 1024);
    } catch {
      // the process is gone already (it crashed); its peak is unknown
    }
  }
}
