// Sessions keyed by what makes them different: the serialized graph, the weight files it points into,
// the providers and the options. The same graph is never created twice; the least recently used
// session is released once more than `maxSessions` are held.
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import type { Graph } from '../onnx/graph.ts';
import { serializeGraph, Session, type SerializedGraph, type SessionOptions } from './session.ts';

export interface SessionCacheOptions {
  /** Sessions held at most. One job's sessions must all fit (e.g. text encoder + UNet + VAE). */
  maxSessions?: number;
}

export interface SessionCacheStats {
  created: number;
  hits: number;
  released: number;
}

interface Entry {
  session: Promise<Session>;
  graphName: string;
}

export class SessionCache {
  readonly maxSessions: number;
  readonly stats: SessionCacheStats = { created: 0, hits: 0, released: 0 };
  // A Map iterates in insertion order; a hit re-inserts its entry, so the first one is the least recently used.
  private readonly entries = new Map<string, Entry>();

  constructor(o: SessionCacheOptions = {}) {
    this.maxSessions = o.maxSessions ?? 8;
    if (!Number.isInteger(this.maxSessions) || this.maxSessions < 1) {
      throw new Error(`SessionCache: maxSessions must be a positive integer, got ${o.maxSessions}`);
    }
  }

  get size(): number {
    return this.entries.size;
  }

  /** The session for this graph and options, created on first use. */
  async get(graph: Graph, o: SessionOptions = {}): Promise<Session> {
    const model = serializeGraph(graph);
    const key = sessionKey(model, graph.summary().externalFiles, o);
    const hit = this.entries.get(key);
    if (hit) {
      this.stats.hits++;
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit.session;
    }
    const session = Session.fromSerialized(model, o);
    this.entries.set(key, { session, graphName: graph.name });
    this.stats.created++;
    // A failed creation must not stay cached: the next call tries again (e.g. after a driver install).
    session.catch(() => {
      if (this.entries.get(key)?.session === session) this.entries.delete(key);
    });
    await this.evictBeyondLimit();
    return session;
  }

  /** Releases one session now (its memory is given back to the OS when the process runs with MALLOC_TRIM_THRESHOLD_=0). */
  async release(session: Session): Promise<void> {
    for (const [key, entry] of this.entries) {
      if ((await entry.session.catch(() => undefined)) === session) {
        this.entries.delete(key);
        break;
      }
    }
    if (!session.released) {
      this.stats.released++;
      await session.release();
    }
  }

  /** Releases every session. */
  async clear(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(all.map((e) => this.releaseEntry(e, 'the session cache was cleared')));
  }

  private async evictBeyondLimit(): Promise<void> {
    while (this.entries.size > this.maxSessions) {
      const [key, entry] = this.entries.entries().next().value as [string, Entry];
      this.entries.delete(key);
      await this.releaseEntry(entry, `evicted from the session cache, which holds ${this.maxSessions}; raise maxSessions if one job needs more`);
    }
  }

  private async releaseEntry(entry: Entry, why: string): Promise<void> {
    const session = await entry.session.catch(() => undefined);
    if (session && !session.released) {
      this.stats.released++;
      await session.release(why);
    }
  }
}

/** SHA-256 of the graph bytes, the identity of every weight file it reads, and the options that change the session. */
export function sessionKey(model: SerializedGraph, externalFiles: readonly string[], o: SessionOptions): string {
  const h = createHash('sha256');
  h.update(model.bytes);
  // External data is read when the session is created, so a weight file replaced in place is a new session.
  for (const file of [...externalFiles].sort()) {
    const st = statSync(file);
    h.update(`\0${file}\0${st.size}\0${st.mtimeMs}`);
  }
  h.update(JSON.stringify({
    folder: model.externalDataFolder ?? null,
    providers: o.providers ?? ['cpu'],
    threads: o.intraOpThreads ?? null,
    keep: [...(o.keepOnDevice ?? [])].sort(),
    noCpuFallback: o.forbidCpuFallback ?? false,
  }));
  return h.digest('hex');
}

/** Anything holding sessions that must be given back: a loaded model pipeline. */
export interface Releasable {
  release(): Promise<void>;
}

/**
 * The loaded model pipeline kept warm between jobs, so the next job on the same model (generate, head
 * previews, a story) skips graph building and loading. One model at a time: loading another releases
 * the last one first, so two models never sit in memory together.
 */
export class WarmModels {
  private warm?: { key: string; model: Promise<Releasable> };

  async get<M extends Releasable>(key: string, load: () => Promise<M> | M): Promise<M> {
    if (this.warm?.key === key) return (await this.warm.model) as M;
    await this.clear();
    const model = Promise.resolve().then(load);
    this.warm = { key, model };
    // A failed load must not stay cached: the next job tries again.
    model.catch(() => {
      if (this.warm?.model === model) this.warm = undefined;
    });
    return model;
  }

  async clear(): Promise<void> {
    const old = this.warm;
    this.warm = undefined;
    await (await old?.model.catch(() => undefined))?.release();
  }
}
