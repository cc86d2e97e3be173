// The engine's one session cache. Two kinds of entry:
// - a loaded model's sessions (`ModelSessions`): each part of the model (a UNet for one shape and
//   attention phase, a VAE decoder, a text encoder …) is built and created on first use, then reused by
//   every later job on that model, until the model is released (WarmModels holds one model at a time);
// - sessions keyed by their content (`get(graph)`): the serialized graph, the weight files it points
//   into, the providers and the options; the least recently used is released past `maxSessions`.
// Every creation, hit and release is counted in `stats` (the host reports them in `host.info`).
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

/** A graph and what building it told the caller beside the session (a story graph's mask inputs, …). */
export interface BuiltGraph<I> {
  graph: Graph;
  info: I;
}

export interface BuiltSession<I> {
  session: Session;
  info: I;
}

interface ModelEntry {
  owner: string;
  part: string;
  built: Promise<BuiltSession<unknown>>;
}

export class SessionCache {
  readonly maxSessions: number;
  readonly stats: SessionCacheStats = { created: 0, hits: 0, released: 0 };
  // A Map iterates in insertion order; a hit re-inserts its entry, so the first one is the least recently used.
  private readonly entries = new Map<string, Entry>();
  private readonly modelEntries = new Map<string, ModelEntry>();
  private readonly clearListeners: Array<() => Promise<void>> = [];

  constructor(o: SessionCacheOptions = {}) {
    this.maxSessions = o.maxSessions ?? 8;
    if (!Number.isInteger(this.maxSessions) || this.maxSessions < 1) {
      throw new Error(`SessionCache: maxSessions must be a positive integer, got ${o.maxSessions}`);
    }
  }

  /** Sessions held (or being created). */
  get size(): number {
    return this.entries.size + this.modelEntries.size;
  }

  /** The session for this graph and options, created on first use. */
  async get(graph: Graph, o: SessionOptions = {}): Promise<Session> {
    const model = serializeGraph(graph, o);
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

  /**
   * One part of a loaded model: built by `build` and created on the first call for this owner, part and
   * options; held (outside the `maxSessions` limit) until `releaseModel(owner)` or `clear()`.
   */
  modelPart<I>(owner: string, part: string, build: () => BuiltGraph<I> | Promise<BuiltGraph<I>>, o: SessionOptions = {}): Promise<BuiltSession<I>> {
    const key = JSON.stringify([owner, part, o.providers ?? ['cpu'], o.intraOpThreads ?? null, [...(o.keepOnDevice ?? [])].sort(), o.forbidCpuFallback ?? false, o.optimize ?? true]);
    const hit = this.modelEntries.get(key);
    if (hit) {
      this.stats.hits++;
      return hit.built as Promise<BuiltSession<I>>;
    }
    const built = (async () => {
      const { graph, info } = await build();
      return { session: await Session.create(graph, o), info };
    })();
    this.modelEntries.set(key, { owner, part, built });
    this.stats.created++;
    built.catch(() => {
      if (this.modelEntries.get(key)?.built === built) this.modelEntries.delete(key);
    });
    return built;
  }

  /** Releases a model's sessions, with those of its components (owners named `<owner>/…`). */
  async releaseModel(owner: string): Promise<void> {
    const gone = [...this.modelEntries].filter(([, e]) => e.owner === owner || e.owner.startsWith(`${owner}/`));
    for (const [key] of gone) this.modelEntries.delete(key);
    for (const [, e] of gone) await this.releaseEntry({ session: e.built.then((b) => b.session), graphName: e.part }, 'its model was released');
  }

  /** Runs `listener` before `clear()` releases the sessions (WarmModels lets its model go first). */
  onClear(listener: () => Promise<void>): void {
    this.clearListeners.push(listener);
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
    for (const listener of this.clearListeners) await listener();
    const all = [...this.entries.values(), ...[...this.modelEntries.values()].map((e) => ({ session: e.built.then((b) => b.session), graphName: e.part }))];
    this.entries.clear();
    this.modelEntries.clear();
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
    optimize: o.optimize ?? true,
    cpuSession: o.cpuSession ?? null,
  }));
  return h.digest('hex');
}

/** The engine's one cache: every engine host in this process and every loaded model use it. */
export const engineSessions = new SessionCache();

/** Anything holding sessions that must be given back: a loaded model pipeline. */
export interface Releasable {
  release(): Promise<void>;
}

/**
 * The sessions of one loaded model, held in a SessionCache under the model's name. Pipelines, VAEs,
 * text encoders and story models get their sessions here and build no session themselves.
 */
export class ModelSessions {
  constructor(
    readonly cache: SessionCache,
    /** Unique per loaded model. */
    readonly owner: string,
    /** The options of its sessions where a call names none. */
    readonly defaults: SessionOptions = {},
  ) {}

  /**
   * The sessions of a model made outside the engine's WarmModels (tests, benches): a cache of its own,
   * so they go with the model when it is dropped without release().
   */
  static standalone(what = 'model'): ModelSessions {
    return new ModelSessions(new SessionCache(), what);
  }

  /** The same sessions, created with these options where a call names none. */
  withOptions(defaults: SessionOptions): ModelSessions {
    return new ModelSessions(this.cache, this.owner, defaults);
  }

  /** The session of one part of the model (`unet/…`, `vae/decode/…`); its graph is built only on the first call. */
  async get(part: string, build: () => Graph, o = this.defaults): Promise<Session> {
    return (await this.cache.modelPart(this.owner, part, () => ({ graph: build(), info: undefined }), o)).session;
  }

  /** As get, keeping what the graph builder returned beside the graph. */
  getBuilt<I>(part: string, build: () => BuiltGraph<I> | Promise<BuiltGraph<I>>, o = this.defaults): Promise<BuiltSession<I>> {
    return this.cache.modelPart(this.owner, part, build, o);
  }

  /** The sessions of a component (the VAE, a text encoder): released with the model, or alone. */
  child(name: string): ModelSessions {
    return new ModelSessions(this.cache, `${this.owner}/${name}`, this.defaults);
  }

  /** Releases this model's (or component's) sessions. */
  release(): Promise<void> {
    return this.cache.releaseModel(this.owner);
  }
}

let warmLoads = 0;

/**
 * The loaded model pipeline kept warm between jobs, so the next job on the same model (generate, head
 * previews, a story) skips loading and finds its sessions in the cache. One model at a time: loading
 * another releases the last one (and its sessions) first, so two models never sit in memory together.
 */
export class WarmModels {
  private warm?: { key: string; model: Promise<Releasable>; sessions: ModelSessions };

  constructor(private readonly cache: SessionCache = engineSessions) {
    // Clearing the cache (`host.releaseSessions`) lets the warm model go too: nothing keeps released sessions.
    cache.onClear(() => this.clear());
  }

  async get<M extends Releasable>(key: string, load: (sessions: ModelSessions) => Promise<M> | M): Promise<M> {
    if (this.warm?.key === key) return (await this.warm.model) as M;
    await this.clear();
    const sessions = new ModelSessions(this.cache, `${key}#${++warmLoads}`);
    const model = Promise.resolve().then(() => load(sessions));
    this.warm = { key, model, sessions };
    // A failed load must not stay cached: the next job tries again.
    model.catch(() => {
      if (this.warm?.model === model) this.warm = undefined;
      void sessions.release();
    });
    return model;
  }

  async clear(): Promise<void> {
    const old = this.warm;
    this.warm = undefined;
    if (!old) return;
    await (await old.model.catch(() => undefined))?.release();
    await old.sessions.release();
  }
}
