// AgentSD's token-merge geometry and its random dst/src partition (ToMeSD's
// bipartite_soft_matching_random2d): the latent grid is cut into sy×sx cells and one token per cell,
// drawn at random, becomes a merge destination. The draw is made here, in TypeScript, from a seeded
// generator (torch.randint semantics: one 32-bit MT19937 output modulo sy·sx per cell, row-major),
// and enters the graph as an input, so one session serves every step and every seed.
import type { MT19937 } from '../random/mt19937.ts';

export interface MergeOptions {
  /** Destination stride: one dst token per sx×sy cell. */
  sx: number;
  sy: number;
  /** Fraction of the layer's tokens merged away for the attention's own tokens. */
  ratio: number;
  /** Fraction merged away to form the agent tokens (agents are used only when they are few enough). */
  agentRatio: number;
  /** Only layers downsampled by at most this factor are merged (1 = full latent resolution only). */
  maxDownsample: number;
}

export interface MergeGeometry {
  height: number;
  width: number;
  sx: number;
  sy: number;
  tokens: number;
  dst: number;
  src: number;
  /** Tokens merged for the attention (r) and for the agents. */
  merged: number;
  agentMerged: number;
  /** Whether agent attention runs (`2·agents < kept tokens`); otherwise plain ToMe softmax. */
  agents: boolean;
}

/** The merge of one layer, or undefined where AgentSD leaves the layer alone. */
export function mergeGeometry(grid: { height: number; width: number }, latent: { height: number; width: number }, o: MergeOptions): MergeGeometry | undefined {
  const tokens = grid.height * grid.width;
  const downsample = Math.ceil(Math.sqrt(Math.floor((latent.height * latent.width) / tokens)));
  if (downsample > o.maxDownsample) return undefined;
  const r = Math.floor(tokens * o.ratio);
  const cellsY = Math.floor(grid.height / o.sy);
  const cellsX = Math.floor(grid.width / o.sx);
  if (r <= 0 || cellsY === 0 || cellsX === 0) return undefined;
  const dst = cellsY * cellsX;
  const src = tokens - dst;
  const merged = Math.min(src, r);
  const agentMerged = Math.min(src, Math.floor(tokens * o.agentRatio));
  return { height: grid.height, width: grid.width, sx: o.sx, sy: o.sy, tokens, dst, src, merged, agentMerged, agents: (tokens - agentMerged) * 2 < tokens - merged };
}

export function checkMergeOptions(o: MergeOptions): void {
  const fail = (msg: string): never => {
    throw new RangeError(`agent attention: ${msg}`);
  };
  if (!Number.isInteger(o.sx) || !Number.isInteger(o.sy) || o.sx < 1 || o.sy < 1) fail(`sx and sy must be positive integers (got ${o.sx}, ${o.sy})`);
  if (o.sx * o.sy < 2) fail('sx·sy must be at least 2 (one dst and at least one src per cell)');
  if (!(o.ratio >= 0 && o.ratio <= 1 - 1 / (o.sx * o.sy))) fail(`ratio ${o.ratio} must lie in [0, 1 - 1/(sx·sy)] = [0, ${1 - 1 / (o.sx * o.sy)}]`);
  if (!(o.agentRatio >= 0 && o.agentRatio < 1)) fail(`agentRatio ${o.agentRatio} must lie in [0, 1)`);
  if (!Number.isInteger(o.maxDownsample) || o.maxDownsample < 1) fail(`maxDownsample must be a positive integer (got ${o.maxDownsample})`);
}

/**
 * The destination chosen in each cell (0 … sy·sx-1, row-major within the cell), cells row-major.
 * Without a generator every cell takes its top-left token (ToMeSD's `use_rand=False`, forced for odd batches).
 */
export function drawDestinations(geo: MergeGeometry, rng?: MT19937): Uint32Array {
  const choice = new Uint32Array(Math.floor(geo.height / geo.sy) * Math.floor(geo.width / geo.sx));
  if (rng) for (let i = 0; i < choice.length; i++) choice[i] = rng.nextUint32() % (geo.sx * geo.sy);
  return choice;
}

/**
 * The graph input of one merged layer, float32 [2, N] (token indices are exact in float32; WebGPU has
 * no int64 arithmetic): row 0 lists the token indices dst first then src (each ascending), row 1 is its
 * inverse permutation.
 */
export function partitionTensorData(geo: MergeGeometry, choice: Uint32Array): Float32Array {
  const cellsX = Math.floor(geo.width / geo.sx);
  const isDst = new Uint8Array(geo.tokens);
  choice.forEach((c, cell) => {
    const y = Math.floor(cell / cellsX) * geo.sy + Math.floor(c / geo.sx);
    const x = (cell % cellsX) * geo.sx + (c % geo.sx);
    isDst[y * geo.width + x] = 1;
  });
  const order: number[] = [];
  for (let t = 0; t < geo.tokens; t++) if (isDst[t]) order.push(t);
  for (let t = 0; t < geo.tokens; t++) if (!isDst[t]) order.push(t);
  const out = new Float32Array(2 * geo.tokens);
  order.forEach((t, i) => {
    out[i] = t;
    out[geo.tokens + t] = i;
  });
  return out;
}
