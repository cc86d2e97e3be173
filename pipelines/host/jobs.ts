// What a job is: a named handler with an input schema, run by the engine host one at a time.
// A job module exports `jobs`, a record of these; the host imports the modules the client names.
import type { z } from 'zod';
import type { SessionCache } from '../runtime/session-cache.ts';
import type { Progress } from './protocol.ts';

export interface JobContext {
  /** Aborted when the client cancels. Check it between steps: `ctx.signal.throwIfAborted()`. */
  signal: AbortSignal;
  progress(p: Progress): void;
  /** The host's session cache: sessions outlive a job, so the next job with the same graph starts at once. */
  sessions: SessionCache;
}

export interface JobDefinition<S extends z.ZodType, O> {
  input: S;
  run(input: z.output<S>, ctx: JobContext): Promise<O> | O;
}

/** Declares a job; the input type comes from the schema. */
export function defineJob<S extends z.ZodType, O>(def: JobDefinition<S, O>): JobDefinition<S, O> {
  return def;
}

/** Any job, as the host holds them: `never` input because a registry mixes input types. */
export interface AnyJob {
  input: z.ZodType;
  run(input: never, ctx: JobContext): unknown;
}

export type JobRegistry = Record<string, AnyJob>;

/** What the client passes for job `J` (before the job's schema applies defaults). */
export type JobInput<J> = J extends { input: infer S extends z.ZodType } ? z.input<S> : never;
export type JobOutput<J> = J extends { run(input: never, ctx: JobContext): infer O } ? Awaited<O> : never;

/** The error a job throws (through `signal.throwIfAborted()`) when it was cancelled. */
export class JobCancelledError extends Error {
  constructor(message = 'the job was cancelled') {
    super(message);
    this.name = 'JobCancelledError';
  }
}
