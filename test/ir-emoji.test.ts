// IR-Diffusion on the embedded emoji-DiT: the story graph with every mask open is the plain model;
// the mutual cross-attention reads the right reference's text; the isolation bias on the 8×8 token
// grid is exactly the pattern of the boxes; isolation holds end to end (a subject's output does not
// depend on another subject's tokens); a story's plain scene is what the emoji recipe draws; `studio
// story` runs the example story without a model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import { Session, ort, tensor } from '../pipelines/runtime/session.ts';
import { TorchGenerator } from '../pipelines/random/torch-randn.ts';
import type { Graph } from '../pipelines/onnx/graph.ts';
import * as op from '../pipelines/onnx/ops.ts';
import { maskedLogit } from '../pipelines/attention/isolation.ts';
import { mutualLayerIndices, type GridInputs } from '../pipelines/attention/reposition.ts';
import { gridFeeds, repositionMap } from '../pipelines/recipes/story/reposition-masks.ts';
import { readEmojiConfig, type EmojiDitConfig } from '../pipelines/models/emoji/config.ts';
import { buildEmojiDiT } from '../pipelines/models/emoji/dit.ts';
import { EmojiPipeline } from '../pipelines/recipes/emoji/pipeline.ts';
import { StoryInputError, targetMasks, type Box } from '../pipelines/recipes/story/boxes.ts';
import { buildStoryEmojiDiT, type StoryEmojiDiTOptions } from '../pipelines/recipes/story/emoji-dit.ts';
import { emojiDitStoryModel } from '../pipelines/recipes/story/emoji-dit-story-model.ts';
import { runStory } from '../pipelines/recipes/story/run-story.ts';
import { parseStory } from '../pipelines/recipes/story/story.ts';
import { storyCommand } from '../app/cli/story-command.ts';
import { UsageError } from '../app/cli/exit-codes.ts';
import { relL2 } from './fixtures.ts';
import { runGraph } from './run-graph.ts';

const DIR = resolve(import.meta.dirname, '..', 'assets', 'models', 'emoji-dit');
const skip = existsSync(join(DIR, 'parity.safetensors')) ? false : 'assets/models/emoji-dit not found';
const cfg = () => readEmojiConfig(DIR, ['emoji-dit']) as EmojiDitConfig;
const weights = () => SafetensorsFile.open(join(DIR, 'model.safetensors'));
const GRID = { height: 8, width: 8 };
const S = 64;
const LEFT: Box = [0, 0.25, 0.5, 0.75];
const RIGHT: Box = [0.5, 0.25, 1, 0.75];

/** Model feeds for `rows` batch rows: noise, times and the parity file's two text rows, alternating. */
function modelFeeds(rows: number, seed = 5): Record<string, ort.Tensor> {
  const p = SafetensorsFile.open(join(DIR, 'parity.safetensors'));
  const pick = (name: string) => {
    const src = p.readFloat32(name);
    const shape = p.info(name).shape;
    const per = src.length / shape[0];
    const out = new Float32Array(rows * per);
    for (let r = 0; r < rows; r++) out.set(src.subarray((r % 2) * per, (r % 2 + 1) * per), r * per);
    return tensor(out, [rows, ...shape.slice(1)]);
  };
  const gen = new TorchGenerator(seed);
  return {
    x: tensor(gen.randn([rows, 4, 16, 16]), [rows, 4, 16, 16]),
    t: tensor(Float32Array.from({ length: rows }, (_, i) => 0.2 + 0.1 * i), [rows]),
    text_tokens: pick('text_tokens'), text_mask: pick('text_mask'), text_pooled: pick('text_pooled'),
  };
}

/** The IR feeds of every grid of the graph: targets from `boxes` (none: all masks closed off, i.e. open attention), references relocated from the whole image, no dropout. */
function maskFeeds(grids: readonly GridInputs[], subjects: number, boxes?: readonly Box[]): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const inputs of grids) {
    const targets = boxes ? targetMasks(boxes, inputs.grid) : Array.from({ length: subjects }, () => new Uint8Array(S));
    const whole = new Uint8Array(S).fill(1);
    Object.assign(feeds, gridFeeds(inputs, { targets, queries: targets, maps: targets.map((t) => repositionMap(whole, t, inputs.grid)) }));
  }
  return feeds;
}

const storyOptions = (o: Partial<StoryEmojiDiTOptions> = {}): StoryEmojiDiTOptions => ({
  batch: { groups: 2, subjects: 2 }, mutualLayers: new Set(mutualLayerIndices(6)), ...o,
});

// First: the CLI's output is silenced while it runs, which would swallow a pending report of an earlier test.
async function quietly<R>(f: () => Promise<R>): Promise<R> {
  const [out, err] = [process.stdout.write, process.stderr.write];
  process.stdout.write = (() => true) as typeof process.stdout.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    return await f();
  } finally {
    [process.stdout.write, process.stderr.write] = [out, err];
  }
}

test('studio story runs the example story on the embedded emoji-dit when no model is given; bad emoji stories fail clearly', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'studio-emoji-story-'));
  const example = resolve(import.meta.dirname, '..', 'examples', 'story-emoji.json');
  assert.equal(await quietly(() => storyCommand([example, '--out', join(dir, 'out'), '--steps', '1'])), 0);
  assert.deepEqual(readdirSync(join(dir, 'out')).sort(), ['reference-1-cat.png', 'reference-2-pizza.png', 'scene-01.png', 'scene-02.png', 'scene-03.png', 'story.json']);
  const resolved = JSON.parse(readFileSync(join(dir, 'out', 'story.json'), 'utf8'));
  assert.equal(resolved.model, 'emoji-dit');
  assert.equal(resolved.sampler, 'flow_euler');
  assert.equal(resolved.scenes[2].subjects.length, 2, 'scene 3 names both subjects and gets boxes from attention');

  const bad = (name: string, story: object) => {
    writeFileSync(join(dir, name), JSON.stringify(story));
    return storyCommand([join(dir, name), '--out', join(dir, `out-${name}`)]);
  };
  const subjects = [{ name: 'cat', words: 'cat face' }];
  await assert.rejects(bad('big.json', { width: 128, subjects, scenes: [{ prompt: 'a cat face' }] }), (e: Error) => e instanceof UsageError && /width 128: emoji-dit draws 64×64 images only/.test(e.message));
  await assert.rejects(bad('lit.json', { model: 'emoji-lit', subjects, scenes: [{ prompt: 'a cat face' }] }), (e: Error) => e instanceof UsageError && /emoji-lit: emoji-LiT \(built in\) does not run story mode; story mode runs emoji-DiT/.test(e.message));
  await assert.rejects(emojiDitStoryModel('emoji-lit'), (e: Error) => e instanceof StoryInputError && /emoji-lit: story mode runs on emoji-dit \(softmax self-attention\), not here: its ReLU linear attention/.test(e.message));
  await assert.rejects(bad('unnamed.json', { subjects, scenes: [{ prompt: 'a pizza', subjects: ['cat'] }] }), (e: Error) => e instanceof UsageError && /prompt names none of them: "cat face" \(cat\) does not occur/.test(e.message));
});

test('emoji-DiT story graph: with every mask open it is the plain emoji-DiT on every row; with boxes only the scene rows change', { skip }, async (t) => {
  const story = buildStoryEmojiDiT(weights(), cfg(), storyOptions());
  const feeds = modelFeeds(6);
  const plain = (await runGraph(buildEmojiDiT(weights(), cfg(), { batch: 6 }), feeds)).out;
  const session = await Session.create(story.graph, { providers: ['cpu'] });
  const run = async (boxes?: Box[]) => (await session.run({ ...feeds, ...maskFeeds(story.inputs.grids, 2, boxes) })).out.data as Float32Array;
  const [open, boxed] = [await run(), await run([LEFT, RIGHT])];
  await session.release();
  const per = open.length / 6;
  const row = (x: Float32Array, r: number) => x.subarray(r * per, (r + 1) * per);
  const errors = [0, 1, 2, 3, 4, 5].map((r) => relL2(row(open, r), row(plain, r)));
  const refsBoxed = [0, 1, 2, 3].map((r) => relL2(row(boxed, r), row(plain, r)));
  const effect = Math.min(relL2(row(boxed, 4), row(plain, 4)), relL2(row(boxed, 5), row(plain, 5)));
  t.diagnostic(`masks open vs plain, rel-L2 per row: ${errors.map((e) => e.toExponential(1)).join(' ')}; boxes: reference rows ${Math.max(...refsBoxed).toExponential(1)}, scene rows ≥ ${effect.toExponential(2)}`);
  // Scene rows: rounding only (a softmax over 3·64 keys, 128 of them at −FLT_MAX, against one over 64).
  assert.ok(Math.max(...errors) < 1e-5, `masks open must give the plain model: rel-L2 ${errors}`);
  assert.ok(Math.max(...refsBoxed) < 1e-6, 'reference rows always run the plain model');
  assert.ok(effect > 1e-2, 'boxes must change the scene rows, or the comparison proves nothing');
});

test('emoji-DiT story graph: mutual cross-attention at λ = 1 under a mask covering the image reads that subject’s reference text (with its key mask)', { skip }, async (t) => {
  // One guidance group, rows [ref 0, ref 1, scene]. With isolation and reposition off, the scene row's
  // only change is its cross-attention reading reference i's text: the plain model with the scene's
  // text tokens and mask replaced by reference i's (the pooled text, adaLN's input, stays the scene's).
  const story = buildStoryEmojiDiT(weights(), cfg(), { batch: { groups: 1, subjects: 2 }, mutualLayers: new Set(), isolation: false, crossAttentionLambda: 1 });
  const feeds = modelFeeds(3);
  // The references hold the parity file's two text rows; the scene a third text (row 0's tokens negated).
  const tokens = (feeds.text_tokens.data as Float32Array).slice();
  const n = tokens.length / 3;
  for (let i = 2 * n; i < 3 * n; i++) tokens[i] = -tokens[i];
  const scene: Record<string, ort.Tensor> = { ...feeds, text_tokens: tensor(tokens, feeds.text_tokens.dims) };
  const session = await Session.create(story.graph, { providers: ['cpu'] });
  const plain = await Session.create(buildEmojiDiT(weights(), cfg(), { batch: 3 }), { providers: ['cpu'] });
  const per = 4 * 16 * 16;
  const sceneRow = (x: Float32Array) => x.subarray(2 * per);
  try {
    const errors: number[] = [];
    for (const subject of [0, 1]) {
      const targets = [0, 1].map((i) => new Uint8Array(S).fill(i === subject ? 1 : 0));
      const masks = gridFeeds(story.inputs.grids[0], { targets });
      const ir = sceneRow((await session.run({ ...scene, ...masks })).out.data as Float32Array);
      const expected = { ...scene };
      for (const name of ['text_tokens', 'text_mask']) {
        const data = (scene[name].data as Float32Array).slice();
        const n = data.length / 3;
        data.copyWithin(2 * n, subject * n, (subject + 1) * n);
        expected[name] = tensor(data, scene[name].dims);
      }
      const direct = sceneRow((await plain.run(expected)).out.data as Float32Array);
      const own = sceneRow((await plain.run(scene)).out.data as Float32Array);
      errors.push(relL2(ir, direct));
      assert.ok(relL2(direct, own) > 1e-2, 'the reference text must differ from the scene text, or the test proves nothing');
    }
    t.diagnostic(`scene row vs the plain model reading reference i's text: rel-L2 ${errors.map((e) => e.toExponential(1)).join(', ')}`);
    assert.ok(Math.max(...errors) < 1e-5, `rel-L2 ${errors}`);
  } finally {
    await session.release();
    await plain.release();
  }
});

test('emoji-DiT story graph: the isolation bias on the 8×8 grid is exactly the pattern of the boxes', { skip }, async () => {
  const story = buildStoryEmojiDiT(weights(), cfg(), storyOptions());
  assert.deepEqual(story.inputs.grids.map((g) => g.grid), [GRID], 'one token grid, 8×8');
  const { graph, inputs } = story;
  graph.output(op.cast(inputs.grids[0].isolation!, 'float32'), 'isolation');
  const boxes: Box[] = [LEFT, [0.5, 0, 1, 0.375]];
  const { isolation } = await runGraph(graph, { ...modelFeeds(6), ...maskFeeds(inputs.grids, 2, boxes) });
  // Cells whose centres lie in the boxes: rows 2–5 × cols 0–3, and rows 0–2 × cols 4–7.
  const cells = (rows: number[], cols: number[]) => new Set(rows.flatMap((r) => cols.map((c) => r * 8 + c)));
  const subjects = [cells([2, 3, 4, 5], [0, 1, 2, 3]), cells([0, 1, 2], [4, 5, 6, 7])];
  const owner = (token: number) => subjects.findIndex((s) => s.has(token));
  let blocked = 0;
  for (let q = 0; q < S; q++) {
    for (let k = 0; k < S; k++) {
      const forbidden = owner(q) >= 0 && owner(k) >= 0 && owner(q) !== owner(k);
      assert.equal(isolation[q * S + k], forbidden ? maskedLogit('float32') : 0, `bias[${q}, ${k}]`);
      if (forbidden) blocked++;
    }
  }
  assert.equal(blocked, 2 * 16 * 12);
});

test('emoji-DiT story graph: with isolation a subject’s output does not depend on the other subject’s tokens (every block isolated)', { skip }, async (t) => {
  // The two boxes tile the image, and every other path of the DiT is per token, so only attention can
  // carry the right half into the left half.
  const halves: Box[] = [[0, 0, 0.5, 1], [0.5, 0, 1, 1]];
  const leftHalf = (x: Float32Array, r: number) => Float32Array.from({ length: 4 * 16 * 8 }, (_, i) => x[r * 1024 + Math.floor(i / 8) * 16 + (i % 8)]);
  const feeds = modelFeeds(6);
  const changed = { ...feeds };
  const x = (feeds.x.data as Float32Array).slice();
  for (let r = 4; r < 6; r++) for (let i = 0; i < 4 * 16; i++) for (let c = 8; c < 16; c++) x[r * 1024 + i * 16 + c] += 0.5;
  changed.x = tensor(x, [6, 4, 16, 16]);
  const run = async (o: Partial<StoryEmojiDiTOptions>) => {
    const story = buildStoryEmojiDiT(weights(), cfg(), storyOptions(o));
    const masks = maskFeeds(story.inputs.grids, 2, halves);
    const session = await Session.create(story.graph, { providers: ['cpu'] });
    try {
      const a = (await session.run({ ...feeds, ...masks })).out.data as Float32Array;
      const b = (await session.run({ ...changed, ...masks })).out.data as Float32Array;
      return [4, 5].map((r) => relL2(leftHalf(b, r), leftHalf(a, r)));
    } finally {
      await session.release();
    }
  };
  const isolated = await run({});
  const open = await run({ isolation: false, mutualLayers: new Set(), mutualCrossAttention: false });
  t.diagnostic(`left half after changing the right half: isolated ${isolated.map((e) => e.toExponential(1))}, without isolation ${open.map((e) => e.toExponential(2))}`);
  assert.ok(Math.max(...isolated) === 0, `isolated subjects must not see each other: ${isolated}`);
  assert.ok(Math.min(...open) > 1e-3, 'without isolation the left half must change, or the test proves nothing');
});

test('emoji story: a plain scene is exactly what the emoji recipe draws with the same seed, steps and cfg', { skip }, async () => {
  const story = parseStory({
    seed: 21, steps: 2, cfg: 3.5,
    subjects: [{ name: 'cat', words: 'cat face' }, { name: 'pizza' }],
    scenes: [{ prompt: 'a cat face and a pizza', boxes: { cat: LEFT, pizza: RIGHT } }],
  });
  const model = await emojiDitStoryModel('emoji-dit', { providers: ['cpu'] });
  const emoji = await EmojiPipeline.load('emoji-dit', { providers: ['cpu'] });
  try {
    const result = await runStory(model, story, { plainScenes: true });
    assert.deepEqual(result.images.map((i) => i.kind), ['reference', 'reference', 'plain-scene', 'scene']);
    for (const [image, prompt, seed] of [[result.images[0], 'cat face', 21], [result.images[2], 'a cat face and a pizza', 22]] as const) {
      const direct = await emoji.generate({ prompt, seed, steps: 2, cfg: 3.5 });
      assert.equal(relL2(image.rgb, direct.images), 0, `${image.kind} ${image.index} differs from EmojiPipeline.generate`);
    }
    assert.ok(relL2(result.images[3].rgb, result.images[2].rgb) > 1e-3, 'the IR scene differs from the plain one');
  } finally {
    await model.release();
    await emoji.release();
  }
});
