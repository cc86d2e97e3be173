// A real redis-server for tests: on a free loopback port, in its own temporary folder, started and
// stopped by its pid. Append-only persistence is on (as BullMQ's docs ask of production Redis), so a
// restart keeps the queue.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';

/** A port nothing listens on right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

export class RedisServer {
  private child?: ChildProcess;
  private exited?: Promise<void>;
  readonly dir = mkdtempSync(join(tmpdir(), 'studio-redis-'));

  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(port?: number): Promise<RedisServer> {
    const server = new RedisServer(port ?? (await freePort()));
    await server.start();
    return server;
  }

  async start(): Promise<void> {
    const child = spawn(REDIS_SERVER, ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', ''], { stdio: 'ignore' });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
    for (let i = 0; i < 200; i++) {
      if (await accepts(this.port)) return;
      const failed = await Promise.race([spawnError, new Promise<undefined>((r) => setTimeout(() => r(undefined), 25))]);
      if (failed) throw new Error(`${REDIS_SERVER} could not start (${failed.message}); install Debian's redis-server (scripts/install-test-tools.sh)`);
      if (child.exitCode !== null) throw new Error(`${REDIS_SERVER} exited with code ${child.exitCode} before listening on ${this.port}`);
    }
    throw new Error(`${REDIS_SERVER} did not listen on port ${this.port} within 5 s`);
  }

  /** Stops the server by its pid (SIGTERM: it finishes its append-only file first). */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    process.kill(child.pid!, 'SIGTERM');
    await this.exited;
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
