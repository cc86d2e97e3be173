// One fuzz campaign against one target: inputs from fast-check's generators and from mutations of a
// corpus (the seeds plus inputs that were refused late, i.e. got deep), each timed; errors that are
// not the parser's own refusals are crashes.
import fc from 'fast-check';
import { Rng } from './mutate.ts';
import type { FuzzTarget } from './targets.ts';

export interface Finding {
  kind: 'crash' | 'hang';
  message: string;
  /** The input, base64 of its bytes or UTF-8 text, cut to 2 KiB for the report. */
  sample: string;
  length: number;
}

export interface CampaignStats {
  target: string;
  inputs: number;
  crashes: number;
  hangs: number;
  worstMs: number;
  /** Length of the slowest input. */
  worstLength: number;
  findings: Finding[];
}

export interface CampaignOptions {
  inputs: number;
  seed: number;
  /** An input slower than this is a hang (it is still let finish). */
  hangMs: number;
  /** Stop after this long even if fewer inputs were tried (the table reports how many were). */
  seconds?: number;
  /** Called every 10,000 inputs, e.g. to report progress. */
  onProgress?: (done: number) => void;
  /** Called with each crashing or hanging input, whole (e.g. to save it for replay). */
  onFinding?: (input: unknown, index: number) => void;
}

const CORPUS_MAX = 256;

function sampleOf(input: unknown): { sample: string; length: number } {
  if (typeof input === 'string') return { sample: input.slice(0, 2048), length: input.length };
  const b = input as Uint8Array;
  return { sample: Buffer.from(b.subarray(0, 2048)).toString('base64'), length: b.length };
}

/** Runs the campaign; a live target's server is started first and stopped after, whatever happens. */
export async function runCampaign<T>(target: FuzzTarget<T>, o: CampaignOptions): Promise<CampaignStats> {
  await target.start?.();
  try {
    return await campaign(target, o);
  } finally {
    await target.stop?.();
  }
}

async function campaign<T>(target: FuzzTarget<T>, o: CampaignOptions): Promise<CampaignStats> {
  const rng = new Rng(o.seed);
  const seeds = target.seeds();
  const corpus: T[] = [...seeds];
  const stats: CampaignStats = { target: target.name, inputs: 0, crashes: 0, hangs: 0, worstMs: 0, worstLength: 0, findings: [] };
  let generated: T[] = [];
  const deadline = o.seconds === undefined ? Infinity : Date.now() + o.seconds * 1000;
  for (let i = 0; i < o.inputs; i++) {
    if (i % 1000 === 0 && Date.now() > deadline) break;
    let input: T;
    if (i % 4 === 0) {
      if (!generated.length) generated = fc.sample(target.arbitrary, { numRuns: 1000, seed: o.seed + i });
      input = generated.pop()!;
    } else {
      input = target.mutate(rng, rng.pick(corpus), seeds);
    }
    const started = performance.now();
    let error: unknown;
    try {
      // Only a live target returns a promise; the parsers run synchronously, with no await per input.
      const pending = target.run(input);
      if (pending) await pending;
    } catch (e) {
      error = e;
    }
    const ms = performance.now() - started;
    stats.inputs++;
    if (ms > stats.worstMs) {
      stats.worstMs = ms;
      stats.worstLength = sampleOf(input).length;
    }
    if (ms > o.hangMs || (error !== undefined && !target.expected(error))) o.onFinding?.(input, i);
    if (ms > o.hangMs) {
      stats.hangs++;
      if (stats.findings.length < 20) stats.findings.push({ kind: 'hang', message: `${ms.toFixed(0)} ms`, ...sampleOf(input) });
    }
    if (error !== undefined && !target.expected(error)) {
      stats.crashes++;
      if (stats.findings.length < 20) stats.findings.push({ kind: 'crash', message: String((error as Error)?.stack ?? error).slice(0, 600), ...sampleOf(input) });
    }
    // Inputs that passed (or were refused) after some work are good parents for further mutation.
    if (sampleOf(input).length <= 65_536 && rng.chance(0.02)) {
      if (corpus.length < CORPUS_MAX) corpus.push(input);
      else corpus[seeds.length + rng.int(CORPUS_MAX - seeds.length)] = input;
    }
    if (o.onProgress && (i + 1) % 10_000 === 0) o.onProgress(i + 1);
  }
  return stats;
}
