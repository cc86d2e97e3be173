// AgentSD: the graph against a plain-TypeScript reference of the AgentSD / ToMeSD equations
// (research/seed-linear.md §2.2, written from the equations, in float64), and its attention cost.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SafetensorsFile, writeSafetensors } from '../pipelines/io/safetensors.ts';
import { Graph } from '../pipelines/onnx/graph.ts';
import { Weights } from '../pipelines/onnx/weights.ts';
import { AgentAttention, AGENT_SD_EARLY, AGENT_SD_LATE, type AgentOptions } from '../pipelines/attention/agent.ts';
import { FlopCountingGraph } from '../pipelines/attention/flops.ts';
import type { SelfAttentionVariant } from '../pipelines/attention/self-attention.ts';
import { softmaxAttention } from '../pipelines/attention/softmax.ts';
import { bestMatches } from '../pipelines/attention/token-merge.ts';
import { MT19937 } from '../pipelines/random/mt19937.ts';
import { Session, tensor } from '../pipelines/runtime/session.ts';
import { relL2 } from './fixtures.ts';

interface Case { batch: number; height: number; width: number; channels: number; heads: number }

/** Deterministic N(0,1)-ish values (sum of uniforms) from a seeded MT19937. */
function randomArray(n: number, seed: number, scale = 1): Float32Array {
  const mt = new MT19937(BigInt(seed));
  return Float32Array.from({ length: n }, () => {
    let s = 0;
    for (let k = 0; k < 4; k++) s += mt.nextUint32() / 2 ** 32;
    return (s - 2) * Math.sqrt(3) * scale;
  });
}

interface LayerWeights { q: Float32Array; k: Float32Array; v: Float32Array; out: Float32Array; bias: Float32Array }

function writeLayerWeights(dir: string, c: number): { path: string; w: LayerWeights } {
  const w = { q: randomArray(c * c, 11, c ** -0.5), k: randomArray(c * c, 12, c ** -0.5), v: randomArray(c * c, 13, c ** -0.5), out: randomArray(c * c, 14, c ** -0.5), bias: randomArray(c, 15, 0.1) };
  const path = join(dir, `attn-${c}.safetensors`);
  const f32 = (data: Float32Array, shape: number[]) => ({ dtype: 'F32' as const, shape, data });
  writeSafetensors(path, {
    'attn1.to_q.weight': f32(w.q, [c, c]), 'attn1.to_k.weight': f32(w.k, [c, c]), 'attn1.to_v.weight': f32(w.v, [c, c]),
    'attn1.to_out.0.weight': f32(w.out, [c, c]), 'attn1.to_out.0.bias': f32(w.bias, [c]),
  });
  return { path, w };
}

/** One self-attention layer at full latent resolution, inputs x (block input) and y (normed). */
function buildLayer(g: Graph, weightsPath: string, variant: SelfAttentionVariant, c: Case): void {
  const n = c.height * c.width;
  const x = g.input('x', 'float32', [c.batch, n, c.channels]);
  const y = g.input('y', 'float32', [c.batch, n, c.channels]);
  const layer = { index: 0, name: 'down_blocks.0.attentions.0.transformer_blocks.0.attn1', heads: c.heads, channels: c.channels, downsample: 1 };
  const grid = { height: c.height, width: c.width };
  const r = variant.apply({ layer, weights: new Weights(g, SafetensorsFile.open(weightsPath), 'float32', 'attn1'), hidden: y, blockInput: x, grid, latent: grid, upcast: false });
  g.output(r.project(r.heads), 'out');
}

// ---- reference, straight from the equations ----

const linearRow = (row: ArrayLike<number>, w: Float32Array, c: number, bias?: Float32Array) =>
  Array.from({ length: c }, (_, o) => {
    let s = bias ? bias[o] : 0;
    for (let i = 0; i < c; i++) s += w[o * c + i] * row[i];
    return s;
  });

function softmaxAttend(q: number[][], k: number[][], v: number[][], heads: number, scale: number): number[][] {
  const d = q[0].length / heads;
  return q.map((qi) => {
    const out = new Array<number>(qi.length).fill(0);
    for (let h = 0; h < heads; h++) {
      const logits = k.map((kj) => { let s = 0; for (let e = 0; e < d; e++) s += qi[h * d + e] * kj[h * d + e]; return s * scale; });
      const max = Math.max(...logits);
      const p = logits.map((l) => Math.exp(l - max));
      const z = p.reduce((a, b) => a + b, 0);
      p.forEach((pj, j) => { for (let e = 0; e < d; e++) out[h * d + e] += (pj / z) * v[j][h * d + e]; });
    }
    return out;
  });
}

function agentSdReference(x: Float32Array, y: Float32Array, w: LayerWeights, c: Case, o: AgentOptions, rng?: MT19937): Float64Array {
  const n = c.height * c.width;
  const ch = c.channels;
  // Destinations: one per sy×sx cell, drawn as torch.randint(sy*sx) on a CPU generator (MT output mod range).
  const cellsY = Math.floor(c.height / o.sy);
  const cellsX = Math.floor(c.width / o.sx);
  const buffer = new Array<number>(n).fill(0);
  for (let cy = 0; cy < cellsY; cy++) {
    for (let cx = 0; cx < cellsX; cx++) {
      const pick = rng && c.batch % 2 === 0 ? rng.nextUint32() % (o.sx * o.sy) : 0;
      buffer[(cy * o.sy + Math.floor(pick / o.sx)) * c.width + cx * o.sx + (pick % o.sx)] = -1;
    }
  }
  const order = [...buffer.keys()].sort((a, b) => buffer[a] - buffer[b]);
  const numDst = cellsY * cellsX;
  const dstIdx = order.slice(0, numDst);
  const srcIdx = order.slice(numDst);
  const r = Math.min(srcIdx.length, Math.floor(n * o.ratio));
  const agentR = Math.min(srcIdx.length, Math.floor(n * o.agentRatio));
  const useAgents = (n - agentR) * 2 < n - r;
  const result = new Float64Array(c.batch * n * ch);
  for (let b = 0; b < c.batch; b++) {
    const tok = (arr: Float32Array, t: number) => Array.from(arr.subarray((b * n + t) * ch, (b * n + t + 1) * ch));
    const unit = (t: number) => { const v = tok(x, t); const norm = Math.hypot(...v); return v.map((e) => e / norm); };
    const srcUnit = srcIdx.map(unit);
    const dstUnit = dstIdx.map(unit);
    const best = srcUnit.map((a) => {
      let bestJ = 0;
      let bestS = -Infinity;
      dstUnit.forEach((d, j) => { const s = a.reduce((acc, e, i) => acc + e * d[i], 0); if (s > bestS) { bestS = s; bestJ = j; } });
      return { score: bestS, dst: bestJ };
    });
    const edge = [...best.keys()].sort((p, q) => best[q].score - best[p].score);
    const merge = (count: number) => {
      const sums = dstIdx.map((t) => tok(y, t));
      const counts = new Array<number>(numDst).fill(1);
      for (const p of edge.slice(0, count)) {
        const row = tok(y, srcIdx[p]);
        sums[best[p].dst].forEach((_, i) => { sums[best[p].dst][i] += row[i]; });
        counts[best[p].dst]++;
      }
      return [...edge.slice(count).map((p) => tok(y, srcIdx[p])), ...sums.map((s, j) => s.map((e) => e / counts[j]))];
    };
    const feat = merge(r);
    const q = feat.map((t) => linearRow(t, w.q, ch));
    const k = feat.map((t) => linearRow(t, w.k, ch));
    const v = feat.map((t) => linearRow(t, w.v, ch));
    const s = (ch / c.heads) ** -0.5;
    let out: number[][];
    if (useAgents) {
      const a = merge(agentR).map((t) => linearRow(t, w.q, ch));
      const agentValues = softmaxAttend(a, k, v, c.heads, s);
      out = softmaxAttend(q, a, agentValues, c.heads, s ** o.kScale2).map((row, i) => row.map((e, j) => e + o.kShortcut * v[i][j]));
    } else {
      out = softmaxAttend(q, k, v, c.heads, s);
    }
    const projected = out.map((row) => linearRow(row, w.out, ch, w.bias));
    const kept = srcIdx.length - r;
    const put = (token: number, row: number[]) => result.set(row, (b * n + token) * ch);
    dstIdx.forEach((t, j) => put(t, projected[kept + j]));
    edge.forEach((p, rank) => put(srcIdx[p], rank < r ? projected[kept + best[p].dst] : projected[rank - r]));
  }
  return result;
}

async function compare(t: { diagnostic(m: string): void }, o: AgentOptions, c: Case, seed: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'agent-'));
  try {
    const { path, w } = writeLayerWeights(dir, c.channels);
    const g = new Graph('agent-layer');
    const agent = new AgentAttention(o);
    buildLayer(g, path, agent, c);
    assert.equal(agent.inputs.length, 1);
    const n = c.height * c.width;
    const x = randomArray(c.batch * n * c.channels, seed);
    const y = randomArray(c.batch * n * c.channels, seed + 1);
    const session = await Session.create(g);
    const out = await session.run({ ...agent.feeds(c.batch, new MT19937(BigInt(seed))), x: tensor(x, [c.batch, n, c.channels]), y: tensor(y, [c.batch, n, c.channels]) });
    await session.release();
    const expected = agentSdReference(x, y, w, c, o, new MT19937(BigInt(seed)));
    const err = relL2(out.out.data as Float32Array, expected);
    t.diagnostic(`${agent.inputs[0].geometry.agents ? 'agents' : 'ToMe'} ${c.batch}×${c.height}×${c.width}: rel-L2 ${err.toExponential(2)}`);
    assert.ok(err < 1e-5, `rel-L2 ${err}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('agent attention (sx = sy = 4, ratio 0.4, agent ratio 0.95) matches the AgentSD equations', async (t) => {
  await compare(t, AGENT_SD_EARLY, { batch: 2, height: 16, width: 16, channels: 32, heads: 2 }, 7);
});

test('a grid the cells do not tile, and an odd batch (top-left destinations), match too', async (t) => {
  await compare(t, AGENT_SD_EARLY, { batch: 2, height: 18, width: 14, channels: 32, heads: 2 }, 21);
  await compare(t, AGENT_SD_EARLY, { batch: 1, height: 16, width: 16, channels: 32, heads: 4 }, 5);
});

test('the late-step setting (sx = sy = 2, agent ratio 0.5) falls back to ToMe softmax as AgentSD does', async (t) => {
  await compare(t, AGENT_SD_LATE, { batch: 2, height: 16, width: 16, channels: 32, heads: 2 }, 3);
});

test('different seeds draw different destinations; the same seed the same', () => {
  const agent = new AgentAttention(AGENT_SD_EARLY);
  const g = new Graph('feeds');
  const dir = mkdtempSync(join(tmpdir(), 'agent-'));
  try {
    buildLayer(g, writeLayerWeights(dir, 8).path, agent, { batch: 2, height: 16, width: 16, channels: 8, heads: 2 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const feed = (seed: number) => [...(agent.feeds(2, new MT19937(BigInt(seed))).agent_partition_0.data as Float32Array)];
  assert.deepEqual(feed(1), feed(1));
  assert.notDeepEqual(feed(1), feed(2));
  const perm = feed(1).slice(0, 256).map(Number);
  assert.deepEqual([...perm].sort((a, b) => a - b), [...Array(256).keys()], 'row 0 is a permutation of the tokens');
});

test('attention cost falls as the paper says: agent cost O(N·n·d) instead of O(N²·d)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'agent-'));
  try {
    const channels = 320;
    const heads = 8;
    const { path } = writeLayerWeights(dir, channels);
    const ratios: number[] = [];
    for (const side of [64, 128]) {
      const c = { batch: 1, height: side, width: side, channels, heads };
      const count = (variant: SelfAttentionVariant) => {
        const g = new FlopCountingGraph('flops');
        buildLayer(g, path, variant, c);
        return g;
      };
      const soft = count(softmaxAttention());
      const agentVariant = new AgentAttention(AGENT_SD_EARLY);
      const agent = count(agentVariant);
      const tome = count(new AgentAttention(AGENT_SD_LATE));
      const geo = agentVariant.inputs[0].geometry;
      const n = side * side;
      const kept = n - geo.merged;
      const agents = n - geo.agentMerged;
      // Softmax: QKᵀ and AV, 2·N²·C each. Agents: A·Kᵀ, ·V, Q·Aᵀ, ·V_A over N' queries and n agents.
      assert.equal(soft.flopsByOp.MultiHeadAttention, 4 * n * n * channels);
      assert.equal(agent.flopsByOp.MultiHeadAttention, 8 * kept * agents * channels);
      assert.equal(agents, n / 16, 'one agent per 4×4 cell');
      const ratio = agent.flops / soft.flops;
      ratios.push(ratio);
      t.diagnostic(`${side}² tokens: softmax ${(soft.flops / 1e9).toFixed(2)} GFLOP, ToMe ${(tome.flops / 1e9).toFixed(2)}, agent ${(agent.flops / 1e9).toFixed(2)} (${(100 * ratio).toFixed(1)} % of softmax)`);
      assert.ok(agent.flops < tome.flops && tome.flops < soft.flops);
    }
    assert.ok(ratios[0] < 0.25, `agent layer at 64² costs ${ratios[0]} of softmax`);
    assert.ok(ratios[1] < ratios[0], 'the saving grows with resolution');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('token matching in pieces of src rows gives each src its best dst and similarity, as in one piece', async () => {
  const [batch, src, dst, c] = [2, 37, 5, 3];
  const rng = new MT19937(9n);
  const values = (n: number) => Float32Array.from({ length: n }, () => (rng.nextUint32() / 2 ** 32) * 2 - 1);
  const [a, b] = [values(batch * src * c), values(batch * dst * c)];
  const run = async (maxValues: number) => {
    const g = new Graph('match');
    const m = bestMatches(g.input('src', 'float32', [batch, src, c]), g.input('dst', 'float32', [batch, dst, c]), dst, maxValues);
    g.output(m.best, 'best');
    g.output(m.bestDst, 'bestDst');
    const s = await Session.create(g);
    const out = await s.run({ src: tensor(a, [batch, src, c]), dst: tensor(b, [batch, dst, c]) });
    await s.release();
    return [out.best.data as Float32Array, out.bestDst.data as Float32Array];
  };
  const [whole, pieces] = [await run(2 ** 26), await run(2 * 8 * dst)];
  assert.deepEqual(pieces, whole);
  for (let r = 0; r < batch * src; r++) {
    const n = Math.floor(r / src);
    const dots = Array.from({ length: dst }, (_, j) => Array.from({ length: c }, (_, k) => a[r * c + k] * b[(n * dst + j) * c + k]).reduce((p, q) => p + q));
    const arg = dots.indexOf(Math.max(...dots));
    assert.equal(whole[1][r], arg, `row ${r}`);
    assert.ok(Math.abs(whole[0][r] - dots[arg]) < 1e-6, `row ${r}`);
  }
});
