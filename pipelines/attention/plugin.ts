// What a self-attention variant provides to the pipelines that run it. The request side (id, label,
// option schema) is data in ./options.ts; this is the graph side, one object per variant module.
import type { ort } from '../runtime/session.ts';
import type { Attention } from './options.ts';
import type { SelfAttentionVariant } from './self-attention.ts';

/** The attention graph one denoising step needs. */
export interface AttentionPhase {
  /** Steps whose phases share a key share one built graph (and session). */
  readonly key: string;
  /** A fresh graph builder for this phase. */
  build(): SelfAttentionVariant;
  /** Extra graph inputs for one model call on a graph built by `built` (AgentSD's token partitions). */
  feeds?(built: SelfAttentionVariant, batch: number): Record<string, ort.Tensor>;
}

/** The phases of one run: which graph each step of `steps` uses. */
export type AttentionSchedule = (step: number, steps: number) => AttentionPhase;

export interface AttentionPlugin<R extends Attention = Attention> {
  readonly id: R['kind'];
  /** Model families whose self-attention it can replace ('all': every family, as trained). */
  readonly families: readonly string[] | 'all';
  /** Which layers it replaces, in words (help, docs). */
  readonly layers: string;
  /** The schedule of one run; `seed` feeds any randomness the variant draws (AgentSD's partitions). */
  start(request: R, seed: number | bigint): AttentionSchedule;
}

/** A schedule with one phase for every step: the variants without a step schedule. */
export function singlePhase(key: string, build: () => SelfAttentionVariant): AttentionSchedule {
  const phase: AttentionPhase = { key, build };
  return () => phase;
}
