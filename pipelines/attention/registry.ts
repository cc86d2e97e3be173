// The self-attention variants with their graph side: one module each (softmax.ts, agent.ts,
// linfusion.ts), gathered here. Adding a variant: its data entry in ./options.ts, its module with an
// `AttentionPlugin`, and one line below. SoftPAG / PAG is not a variant but a per-head wrapper around
// whichever variant runs (./head-perturbation.ts: the graph builds every variant's output through it);
// which families offer it is part of each family's methods.
import type { Graph } from '../onnx/graph.ts';
import { agentPlugin } from './agent.ts';
import { FlopCountingGraph } from './flops.ts';
import { linfusionPlugin } from './linfusion.ts';
import { ATTENTION_KINDS, type Attention, type AttentionKind } from './options.ts';
import type { AttentionPlugin, AttentionSchedule } from './plugin.ts';
import type { SelfAttentionVariant } from './self-attention.ts';
import { softmaxPlugin } from './softmax.ts';

export type { AttentionPhase, AttentionPlugin, AttentionSchedule } from './plugin.ts';

type PluginFor<K extends AttentionKind> = AttentionPlugin<Extract<Attention, { kind: K }>>;

export const ATTENTION_PLUGINS: { [K in AttentionKind]: PluginFor<K> } = {
  softmax: softmaxPlugin,
  agent: agentPlugin,
  linfusion: linfusionPlugin,
};

/** The graph schedule of one run of `request` (softmax when none is given). */
export function attentionSchedule(request: Attention | undefined, seed: number | bigint): AttentionSchedule {
  const r = request ?? { kind: 'softmax' };
  return (ATTENTION_PLUGINS[r.kind] as AttentionPlugin).start(r, seed);
}

/** Whether a family's models can run a variant. */
export function runsOn(kind: AttentionKind, family: string): boolean {
  const families = ATTENTION_PLUGINS[kind].families;
  return families === 'all' || families.includes(family);
}

/** The variants a family runs, in registry order. */
export const variantsFor = (family: string): AttentionKind[] => ATTENTION_KINDS.filter((k) => runsOn(k, family));

/** FLOPs (MatMul, Conv, attention) of the graph `build` makes with `variant`, counted on the graph itself. */
export function attentionFlops(variant: SelfAttentionVariant, build: (g: Graph, variant: SelfAttentionVariant) => void): { flops: number; byOp: Record<string, number> } {
  const g = new FlopCountingGraph('flops');
  build(g, variant);
  return { flops: g.flops, byOp: g.flopsByOp };
}
