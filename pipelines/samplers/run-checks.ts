// Argument checks shared by the sampling loops.

import type { SampleArgs } from './types.ts';

/** Checks an img2img start index against a plan with `count` timesteps. */
export function checkStartIndex(name: string, start: number, count: number, order = 1): number {
  if (!Number.isInteger(start) || start < 0 || start >= count || start % order !== 0) {
    throw new RangeError(`sampler "${name}": startIndex ${start} must be an integer in [0, ${count})${order > 1 ? ` and a multiple of ${order}` : ''}`);
  }
  return start;
}

/** The first step index of a run (args.startIndex, checked). */
export function runStart(name: string, args: SampleArgs, count: number, order = 1): number {
  return checkStartIndex(name, args.startIndex ?? 0, count, order);
}

export function requireGenerator(name: string, args: SampleArgs): NonNullable<SampleArgs['generator']> {
  if (!args.generator) throw new Error(`sampler "${name}" adds fresh noise every step: pass a generator (a seeded TorchGenerator)`);
  return args.generator;
}
