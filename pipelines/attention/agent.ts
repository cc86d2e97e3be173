// AgentSD (Han et al., ECCV 2024; research/seed-linear.md §2.2): training-free agent attention on
// ToMe-merged tokens. Per head, with s = d^-½, agents A = W_q·(agent tokens):
//   V_A = softmax(A·Kᵀ·s)·V,   O = softmax(Q·Aᵀ·s^0.3)·V_A + 0.075·V,
// computed on the merged tokens and copied back to the tokens they absorbed. Where agents are not few
// enough the layer is plain ToMe (softmax on merged tokens); layers below `maxDownsample` are untouched.
// The step schedule (agents early, ToMe later) is AgentSD's too: `agentPlugin` gives one graph per phase.
import type { T } from '../onnx/graph.ts';
import * as nn from '../onnx/nn.ts';
import * as op from '../onnx/ops.ts';
import { MT19937 } from '../random/mt19937.ts';
import { ort } from '../runtime/session.ts';
import { AGENT_DEFAULTS, type AgentAttentionRequest } from './options.ts';
import type { AttentionPlugin } from './plugin.ts';
import { checkMergeOptions, drawDestinations, mergeGeometry, partitionTensorData, type MergeGeometry, type MergeOptions } from './agent-partition.ts';
import { attend } from './mha.ts';
import { rows, type SelfAttentionCall, type SelfAttentionResult, type SelfAttentionLayer, type SelfAttentionVariant } from './self-attention.ts';
import { softmaxResult } from './softmax.ts';
import { bipartiteMerge, type TokenMerge } from './token-merge.ts';

export interface AgentOptions extends MergeOptions {
  /** Exponent on s in the query→agent softmax (AgentSD's k_scale2). */
  kScale2: number;
  /** Weight of the V shortcut (k_shortcut). */
  kShortcut: number;
  /** Similarities and softmaxes in fp32 inside an fp16 graph (attn_precision="fp32", for SD 2.1). */
  fp32: boolean;
}

/** AgentSD's README settings: steps 0–19 of 50 use agents, later steps plain ToMe at 40 %. */
export const AGENT_SD_EARLY: AgentOptions = { sx: 4, sy: 4, ratio: AGENT_DEFAULTS.ratio, agentRatio: AGENT_DEFAULTS.agentRatio, maxDownsample: 1, kScale2: 0.3, kShortcut: 0.075, fp32: false };
export const AGENT_SD_LATE: AgentOptions = { ...AGENT_SD_EARLY, sx: 2, sy: 2, agentRatio: 0.5 };

/** The two phases of a request, its options over AgentSD's. */
export function agentPhases(r: Omit<AgentAttentionRequest, 'kind'> = {}): { early: AgentOptions; late: AgentOptions; agentSteps: number } {
  const ratio = r.ratio ?? AGENT_DEFAULTS.ratio;
  return {
    early: { ...AGENT_SD_EARLY, ratio, agentRatio: r.agentRatio ?? AGENT_DEFAULTS.agentRatio },
    late: { ...AGENT_SD_LATE, ratio },
    agentSteps: r.agentSteps ?? AGENT_DEFAULTS.agentSteps,
  };
}

/** AgentSD's phase for step `step` of `steps`: agents up to its switch (step 20 of 50), scaled to the step count. */
export function agentSdOptionsForStep(step: number, steps: number, r?: Omit<AgentAttentionRequest, 'kind'>): AgentOptions {
  const p = agentPhases(r);
  return step < Math.round(p.agentSteps * steps) ? p.early : p.late;
}

/** AgentSD as a plug-in: one graph per phase, fresh token partitions per UNet call from the run's seed. */
export const agentPlugin: AttentionPlugin<AgentAttentionRequest> = {
  id: 'agent',
  // SDXL is left out: AgentSD publishes settings for SD 1.x / 2.x only.
  families: ['sd1', 'sd2'],
  layers: 'self-attention at full latent resolution; deeper layers stay softmax',
  start(request, seed) {
    const rng = new MT19937(BigInt(seed));
    return (step, steps) => {
      const options = agentSdOptionsForStep(step, steps, request);
      return {
        key: JSON.stringify(options),
        build: () => new AgentAttention(options),
        feeds: (built, batch) => (built as AgentAttention).feeds(batch, rng),
      };
    };
  },
};

export interface AgentLayerInput {
  name: string;
  layer: SelfAttentionLayer;
  geometry: MergeGeometry;
}

export class AgentAttention implements SelfAttentionVariant {
  readonly kind = 'agent';
  /** The partition inputs this graph needs, in build order (one per merged layer). */
  readonly inputs: AgentLayerInput[] = [];

  constructor(readonly options: AgentOptions = AGENT_SD_EARLY) {
    checkMergeOptions(options);
  }

  /** A new graph starts a new input list. */
  prepare(): void {
    this.inputs.length = 0;
  }

  apply(c: SelfAttentionCall): SelfAttentionResult {
    const geometry = mergeGeometry(c.grid, c.latent, this.options);
    if (!geometry) return softmaxResult(c);
    const name = `agent_partition_${c.layer.index}`;
    this.inputs.push({ name, layer: c.layer, geometry });
    const partition = c.hidden.graph.input(name, 'float32', [2, geometry.tokens]);
    return agentResult(c, bipartiteMerge(c.blockInput, c.hidden, partition, geometry), this.options);
  }

  /**
   * Feeds for one UNet call: a fresh destination draw per layer from `rng`, in layer order, as AgentSD
   * draws once per block call. Odd batches (or no generator) use top-left destinations, as ToMeSD does.
   */
  feeds(batch: number, rng?: MT19937): Record<string, ort.Tensor> {
    const useRand = rng && batch % 2 === 0 ? rng : undefined;
    return Object.fromEntries(this.inputs.map((i) => [i.name, new ort.Tensor('float32', partitionTensorData(i.geometry, drawDestinations(i.geometry, useRand)), [2, i.geometry.tokens])]));
  }
}

function agentResult(c: SelfAttentionCall, merge: TokenMerge, o: AgentOptions): SelfAttentionResult {
  const w = c.weights;
  const channels = c.layer.channels;
  const heads = c.layer.heads;
  const fp32 = o.fp32 || c.upcast;
  const q = nn.linear(w.sub('to_q'), merge.merged, channels);
  const k = nn.linear(w.sub('to_k'), merge.merged, channels);
  const v = nn.linear(w.sub('to_v'), merge.merged, channels);
  const scale = (channels / heads) ** -0.5;
  const agentOutput = (agentTokens: T) => {
    const a = nn.linear(w.sub('to_q'), agentTokens, channels);
    const agentValues = attend(a, k, v, heads, { scale, fp32 });
    return op.add(attend(q, a, agentValues, heads, { scale: scale ** o.kScale2, fp32 }), op.mul(v, o.kShortcut));
  };
  const out = merge.agents ? agentOutput(merge.agents) : attend(q, k, v, heads, { fp32 });
  return {
    heads: merge.unmerge(out),
    value: (start, count) => nn.linear(w.sub('to_v'), rows(c.hidden, start, count), channels),
    project: (t) => nn.linear(w.sub('to_out.0'), t, channels),
  };
}
