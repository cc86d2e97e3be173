// What every fuzz target provides (targets.ts and ws-frames.ts define them; engine.ts runs them).
import type fc from 'fast-check';
import type { Rng } from './mutate.ts';

export interface FuzzTarget<T = unknown> {
  name: string;
  seeds: () => T[];
  arbitrary: fc.Arbitrary<T>;
  mutate: (rng: Rng, input: T, seeds: readonly T[]) => T;
  /** One input; a live target's returns a promise (it talks to a server process). */
  run: (input: T) => void | Promise<void>;
  /** The parser's own refusals (a clear message); any other error is a crash. */
  expected: (e: unknown) => boolean;
  /** A target against a running server: started before its campaign and stopped after it. */
  live?: boolean;
  start?: () => Promise<void>;
  stop?: () => Promise<void>;
  /** A live target's server process's peak memory, reported instead of the fuzzer's own. */
  serverPeakRssMiB?: () => number;
}
