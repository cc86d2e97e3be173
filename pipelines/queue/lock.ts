// A lock file beside the queue journal, so the processes that share one queue (the app, `studio
// batch`) take turns changing it. The file is created exclusively and names its owner (pid, host);
// a lock whose owner is gone (a crash, SIGKILL) is broken by the next process that wants it.
// Every lock is held for one short synchronous change, never across an await.
import { closeSync, linkSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';

export interface ProcessRef {
  pid: number;
  host: string;
}

export const THIS_PROCESS: ProcessRef = { pid: process.pid, host: hostname() };

/** A lock without a readable owner, or with this process's pid, this old was left by a process that died. */
const EMPTY_LOCK_STALE_MS = 5_000;
const DEFAULT_TIMEOUT_MS = 10_000;

export class QueueLockedError extends Error {
  constructor(lockPath: string, holder: string) {
    super(`the queue is locked by ${holder} (lock file ${lockPath}); if no studio process is running, delete that file`);
    this.name = 'QueueLockedError';
  }
}

/**
 * Whether the process is still running. A process on another host (a queue on a shared folder)
 * cannot be checked, so it counts as running.
 */
export function isRunning(p: ProcessRef): boolean {
  if (p.host !== THIS_PROCESS.host) return true;
  try {
    process.kill(p.pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));
function sleepSync(ms: number): void {
  Atomics.wait(sleepCell, 0, 0, ms);
}

function readHolder(path: string): { text: string; owner?: ProcessRef; ageMs: number } | undefined {
  try {
    const text = readFileSync(path, 'utf8');
    const ageMs = Date.now() - statSync(path).mtimeMs;
    try {
      const o = JSON.parse(text) as Partial<ProcessRef>;
      if (typeof o.pid === 'number' && typeof o.host === 'string') return { text, owner: { pid: o.pid, host: o.host }, ageMs };
    } catch {
      // An empty or torn lock file: its writer died between creating and writing it.
    }
    return { text, ageMs };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * Removes a dead owner's lock. It is first renamed away, so that when two processes break the same
 * stale lock at once, neither deletes a fresh lock the other has just taken.
 */
function breakStaleLock(path: string, staleText: string): void {
  const aside = `${path}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    renameSync(path, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (readFileSync(aside, 'utf8') !== staleText) {
    // Someone took the lock between our read and the rename: give it back (fails if yet another took it).
    try {
      linkSync(aside, path);
    } catch {
      // The other holder will still release by deleting `path`; nothing better can be done here.
    }
  }
  rmSync(aside, { force: true });
}

function tryCreate(path: string): boolean {
  try {
    const fd = openSync(path, 'wx');
    try {
      writeSync(fd, JSON.stringify({ ...THIS_PROCESS, since: new Date().toISOString() }));
    } finally {
      closeSync(fd);
    }
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

/** Runs `fn` holding the lock file at `path` (waiting up to `timeoutMs` for it). */
export function withFileLock<T>(path: string, fn: () => T, timeoutMs = DEFAULT_TIMEOUT_MS): T {
  const deadline = Date.now() + timeoutMs;
  for (let waitMs = 1; !tryCreate(path); waitMs = Math.min(waitMs * 2, 25)) {
    const holder = readHolder(path);
    if (holder === undefined) continue;
    // Our own pid on an old lock: an earlier process that had the same pid (pid 1 in a container).
    const ours = holder.owner?.pid === THIS_PROCESS.pid && holder.owner.host === THIS_PROCESS.host;
    const dead = holder.owner && !ours ? !isRunning(holder.owner) : holder.ageMs > EMPTY_LOCK_STALE_MS;
    if (dead) {
      breakStaleLock(path, holder.text);
      continue;
    }
    if (Date.now() > deadline) {
      const who = holder.owner ? `process ${holder.owner.pid} on ${holder.owner.host}` : 'a process that is still starting';
      throw new QueueLockedError(path, who);
    }
    sleepSync(waitMs);
  }
  try {
    return fn();
  } finally {
    rmSync(path, { force: true });
  }
}
