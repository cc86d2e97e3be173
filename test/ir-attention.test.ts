// IR-Diffusion's attention pieces on small grids, against direct re-statements of the official code
// (DreamStoryScaledAttnProcessor): the isolation bias entry by entry, reposition as crop + nearest
// resize, the mutual self-attention and the masked mutual cross-attention.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, type T } from '../pipelines/onnx/graph.ts';
import * as op from '../pipelines/onnx/ops.ts';
import { Session, tensor } from '../pipelines/runtime/session.ts';
import { randn } from '../pipelines/random/torch-randn.ts';
import { isolationBias, maskedLogit } from '../pipelines/attention/isolation.ts';
import { mutualLayerIndices, StoryAttentionInputs, storyCrossAttention, storySelfAttention, type StoryBatch } from '../pipelines/attention/reposition.ts';
import { gridFeeds, repositionMap } from '../pipelines/recipes/story/reposition-masks.ts';
import { runGraph } from './run-graph.ts';

const MIN32 = maskedLogit('float32');
const grid = { height: 4, width: 5 };
const S = grid.height * grid.width;

/** A mask from rows of '.' and '#'. */
const mask = (...rowsOf: string[]) => Uint8Array.from(rowsOf.join(''), (ch) => (ch === '#' ? 1 : 0));

const T1 = mask('##...', '##...', '##...', '.....');
const T2 = mask('...##', '...##', '...##', '...##');
const T3 = mask('.....', '.....', '.....', '.##..');

const stack = (masks: Uint8Array[]) => tensor(Float32Array.from(masks.flatMap((m) => [...m])), [masks.length, S]);

test('the isolation bias is exactly the isolation pattern, entry by entry (fp32 and fp16)', async () => {
  for (const dtype of ['float32', 'float16'] as const) {
    const g = new Graph('iso');
    g.output(op.cast(isolationBias(g.input('masks', 'float32', [3, S]), dtype), 'float32'), 'bias');
    const { bias } = await runGraph(g, { masks: stack([T1, T2, T3]) });
    const masks = [T1, T2, T3];
    const low = dtype === 'float32' ? MIN32 : -65504;
    let blocked = 0;
    for (let q = 0; q < S; q++) {
      for (let k = 0; k < S; k++) {
        const forbidden = masks.some((mi, i) => mi[q] === 1 && masks.some((mj, j) => j !== i && mj[k] === 1));
        assert.equal(bias[q * S + k], forbidden ? low : 0, `${dtype} bias[${q}, ${k}]`);
        if (forbidden) blocked++;
      }
    }
    // 6 + 8 + 2 subject tokens: each subject's queries are blocked from the other two subjects' keys.
    assert.equal(blocked, 6 * 10 + 8 * 8 + 2 * 14);
  }
});

test('reposition is the bbox crop of the source, nearest-resized into the target bbox (PyTorch indices)', () => {
  const source = mask('.#...', '##...', '.#...', '.....'); // bbox rows 0–2, cols 0–1
  const target = mask('.....', '..###', '..###', '.....'); // bbox rows 1–2, cols 2–4
  const m = repositionMap(source, target, grid);
  // rows 3 → 2: floor(r·1.5) = 0, 1; cols 2 → 3: floor(c·2/3) = 0, 0, 1.
  const expected = new Map([[7, 0], [8, 0], [9, 1], [12, 5], [13, 5], [14, 6]]);
  for (let t = 0; t < S; t++) {
    const src = expected.get(t);
    assert.equal(m.weight[t], src === undefined ? 0 : source[src], `weight[${t}]`);
    if (src !== undefined) assert.equal(m.index[t], src, `index[${t}]`);
  }
  const doubled = repositionMap(mask('#....', '#....', '.....', '.....'), mask('.####', '.####', '.####', '.####'), grid);
  assert.deepEqual([...doubled.index.subarray(0, 5)], [0, 0, 0, 0, 0]);
  assert.deepEqual([...doubled.index.subarray(15, 20)], [0, 5, 5, 5, 5]);
  assert.ok(repositionMap(new Uint8Array(S), target, grid).weight.every((w) => w === 0), 'an empty source opens no key');
});

test('the official depth of the mutual layers: 36 of SDXL’s 70, the same fraction elsewhere', () => {
  assert.deepEqual(mutualLayerIndices(70), Array.from({ length: 34 }, (_, i) => 36 + i));
  assert.deepEqual(mutualLayerIndices(16), [8, 9, 10, 11, 12, 13, 14, 15]);
  assert.deepEqual(mutualLayerIndices(16, 20), []);
});

// ---- Mutual self-attention against a direct statement of the official algorithm ----

const C = 8;
const HEADS = 2;
const batch: StoryBatch = { groups: 2, subjects: 2 };
const B = batch.groups * (batch.subjects + 1);
const matrix = (seed: number) => randn([C, C], seed).map((v) => v / Math.sqrt(C));

const matVec = (x: ArrayLike<number>, w: Float32Array) => Array.from({ length: C }, (_, o) => {
  let acc = 0;
  for (let i = 0; i < C; i++) acc += x[i] * w[i * C + o];
  return acc;
});

/** softmax(q·kᵀ/√d + bias)·v for every head; rows of q, k, v are C-vectors. */
function attention(q: number[][], k: number[][], v: number[][], bias: (qi: number, kj: number) => number): number[][] {
  const d = C / HEADS;
  return q.map((qi, a) => {
    const out = new Array<number>(C).fill(0);
    for (let h = 0; h < HEADS; h++) {
      const logits = k.map((kj, b) => {
        let dot = 0;
        for (let c = h * d; c < (h + 1) * d; c++) dot += qi[c] * kj[c];
        return dot / Math.sqrt(d) + bias(a, b);
      });
      const top = Math.max(...logits);
      const e = logits.map((l) => Math.exp(l - top));
      const sum = e.reduce((x, y) => x + y, 0);
      e.forEach((p, b) => { for (let c = h * d; c < (h + 1) * d; c++) out[c] += (p / sum) * v[b][c]; });
    }
    return out;
  });
}

/** rescale_hidden_states_sa: mask by the source, crop its bbox, nearest-resize into the target bbox on zeros. */
function rescale(hidden: ArrayLike<number>[], source: Uint8Array, target: Uint8Array): { states: number[][]; keyMask: Uint8Array } {
  const bbox = (m: Uint8Array) => {
    const cells = [...m.keys()].filter((i) => m[i]);
    const rs = cells.map((i) => Math.floor(i / grid.width));
    const cs = cells.map((i) => i % grid.width);
    return { top: Math.min(...rs), bottom: Math.max(...rs), left: Math.min(...cs), right: Math.max(...cs) };
  };
  const [s, t] = [bbox(source), bbox(target)];
  const states = hidden.map(() => new Array<number>(C).fill(0));
  const keyMask = new Uint8Array(S);
  const [inH, inW, outH, outW] = [s.bottom - s.top + 1, s.right - s.left + 1, t.bottom - t.top + 1, t.right - t.left + 1];
  for (let r = 0; r < outH; r++) {
    for (let c = 0; c < outW; c++) {
      const src = (s.top + Math.floor((r * inH) / outH)) * grid.width + s.left + Math.floor((c * inW) / outW);
      const dst = (t.top + r) * grid.width + t.left + c;
      states[dst] = Array.from(hidden[src], (v) => v * source[src]);
      keyMask[dst] = source[src];
    }
  }
  return { states, keyMask };
}

test('mutual self-attention follows the official algorithm: reposition, masks, isolation, dropout', async () => {
  const hiddenData = randn([B, S, C], 5);
  const [wq, wk, wv] = [matrix(6), matrix(7), matrix(8)];
  const sources = [mask('.##..', '.##..', '.#...', '.....'), mask('.....', '..##.', '..###', '..#..')];
  const targets = [T1, T2];
  const queries = [mask('#....', '.#...', '##...', '.....'), mask('....#', '...#.', '...##', '...#.')];

  const g = new Graph('mutual');
  const hidden = g.input('hidden', 'float32', [B, S, C]);
  const w = (data: Float32Array) => g.constant('float32', [C, C], data, 'w');
  const project = (m: Float32Array) => (x: T) => op.matmul(x, w(m));
  const inputs = new StoryAttentionInputs(batch);
  const at = inputs.at(g, grid, true);
  const q = project(wq)(hidden);
  const k = project(wk)(hidden);
  const v = project(wv)(hidden);
  const out = storySelfAttention({ batch, inputs: at, hidden, q, k, v, toK: project(wk), toV: project(wv), heads: HEADS, mutual: true, fp32: false });
  g.output(out, 'out');
  const maps = sources.map((src, i) => repositionMap(src, targets[i], grid));
  const feeds = { hidden: tensor(hiddenData, [B, S, C]), ...gridFeeds(at, { targets, queries, maps }) };
  const got = (await runGraph(g, feeds)).out;

  const row = (r: number) => Array.from({ length: S }, (_, s) => hiddenData.subarray((r * S + s) * C, (r * S + s + 1) * C));
  const project3 = (xs: ArrayLike<number>[], m: Float32Array) => xs.map((x) => matVec(x, m));
  for (let gi = 0; gi < batch.groups; gi++) {
    const scene = row(batch.groups * batch.subjects + gi);
    const moved = targets.map((t, i) => rescale(row(gi * batch.subjects + i), sources[i], t));
    const keys = [...moved.flatMap((m) => project3(m.states, wk)), ...project3(scene, wk)];
    const values = [...moved.flatMap((m) => project3(m.states, wv)), ...project3(scene, wv)];
    const bias = (qi: number, kj: number) => {
      const segment = Math.floor(kj / S);
      const key = kj % S;
      if (segment < batch.subjects) return (moved[segment].keyMask[key] ? 0 : MIN32) + (queries[segment][qi] ? 0 : MIN32);
      return targets.some((ti, a) => ti[qi] && targets.some((tj, b) => b !== a && tj[key])) ? MIN32 : 0;
    };
    const expected = attention(project3(scene, wq), keys, values, bias);
    const offset = (batch.groups * batch.subjects + gi) * S * C;
    expected.forEach((vec, s) => vec.forEach((x, c) => assert.ok(Math.abs(got[offset + s * C + c] - x) < 1e-5, `group ${gi} scene token ${s} channel ${c}: ${got[offset + s * C + c]} vs ${x}`)));
  }
  // Reference rows: plain self-attention on their own tokens.
  for (let r = 0; r < batch.groups * batch.subjects; r++) {
    const x = row(r);
    const expected = attention(project3(x, wq), project3(x, wk), project3(x, wv), () => 0);
    expected.forEach((vec, s) => vec.forEach((y, c) => assert.ok(Math.abs(got[(r * S + s) * C + c] - y) < 1e-5, `reference row ${r}`)));
  }
});

test('masked mutual cross-attention: (1 − λ)·vanilla + λ·(mask-weighted mean over subjects) inside the masks, vanilla outside', async () => {
  const L = 3;
  const hiddenData = randn([B, S, C], 9);
  const textData = randn([B, L, C], 10);
  const [wq, wk, wv, wo] = [matrix(11), matrix(12), matrix(13), matrix(14)];
  const targets = [T1, mask('.#...', '.####', '...##', '...##')]; // overlapping on purpose: the mean weighs both
  const lambda = 0.9;

  const g = new Graph('mmca');
  const hidden = g.input('hidden', 'float32', [B, S, C]);
  const text = g.input('text', 'float32', [B, L, C]);
  const p = (m: Float32Array) => (x: T) => op.matmul(x, g.constant('float32', [C, C], m, 'w'));
  const plain = p(wo)(op.multiHeadAttention(p(wq)(hidden), p(wk)(text), p(wv)(text), HEADS));
  const inputs = new StoryAttentionInputs(batch);
  const at = inputs.at(g, grid, false);
  g.output(storyCrossAttention({ batch, inputs: at, hidden, text, plain, toQ: p(wq), toK: p(wk), toV: p(wv), toOut: p(wo), heads: HEADS, fp32: false, lambda }), 'out');
  g.output(plain, 'plain');
  const got = await runGraph(g, { hidden: tensor(hiddenData, [B, S, C]), text: tensor(textData, [B, L, C]), ...gridFeeds(at, { targets }) });

  const rowsOf = (data: Float32Array, r: number, n: number) => Array.from({ length: n }, (_, s) => data.subarray((r * n + s) * C, (r * n + s + 1) * C));
  const cross = (r: number, textRow: number) => {
    const q = rowsOf(hiddenData, r, S).map((x) => matVec(x, wq));
    const t = rowsOf(textData, textRow, L);
    return attention(q, t.map((x) => matVec(x, wk)), t.map((x) => matVec(x, wv)), () => 0).map((x) => matVec(x, wo));
  };
  for (let gi = 0; gi < batch.groups; gi++) {
    const sceneRow = batch.groups * batch.subjects + gi;
    const vanilla = cross(sceneRow, sceneRow);
    const mutual = targets.map((_, i) => cross(sceneRow, gi * batch.subjects + i));
    for (let s = 0; s < S; s++) {
      const area = targets.reduce((a, t) => a + t[s], 0);
      for (let c = 0; c < C; c++) {
        const mean = targets.reduce((a, t, i) => a + t[s] * mutual[i][s][c], 0) / (area + 1e-8);
        const expected = area === 0 ? vanilla[s][c] : (1 - lambda) * vanilla[s][c] + lambda * mean;
        const at2 = (sceneRow * S + s) * C + c;
        assert.ok(Math.abs(got.out[at2] - expected) < 1e-5, `group ${gi} token ${s} channel ${c}`);
        if (area === 0) assert.equal(got.out[at2], got.plain[at2], 'outside the masks the output is the vanilla value, bit for bit');
      }
    }
  }
  for (let i = 0; i < batch.groups * batch.subjects * S * C; i++) assert.equal(got.out[i], got.plain[i], 'reference rows are untouched');
});
