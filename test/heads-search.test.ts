// HeadHunter and per-head effect maps on the tiny SD 1.x fixture (128² previews, 2 steps, PAG-only as
// the paper searches), plus the weight-free objectives on images with known answers.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixture, skipWithoutFixtures as skip } from './fixtures.ts';
import { SdPipeline } from '../pipelines/recipes/sd/pipeline.ts';
import { SdHeadModel } from '../pipelines/heads/sd-model.ts';
import { headHunter, type HeadHunterOptions } from '../pipelines/heads/headhunter.ts';
import { headEffectMaps } from '../pipelines/heads/effect-maps.ts';
import { absDiff, resizeArea, type RgbImage } from '../pipelines/heads/image.ts';
import { colourfulness, contrast, picksObjective, referenceCloseness, sharpness, type PicksRound } from '../pipelines/heads/objectives.ts';
import type { HeadModel } from '../pipelines/heads/model.ts';

const image = (width: number, height: number, f: (x: number, y: number) => [number, number, number]): RgbImage => {
  const data = new Float32Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set(f(x, y), (y * width + x) * 3);
  return { width, height, data };
};

test('objectives score images with known answers', () => {
  const flat = image(8, 8, () => [0.5, 0.5, 0.5]);
  const checker = image(8, 8, (x, y) => ((x + y) % 2 ? [1, 1, 1] : [0, 0, 0]));
  const stripes = image(8, 8, (x) => (x < 4 ? [1, 1, 1] : [0, 0, 0]));
  assert.equal(sharpness.score(flat), 0);
  assert.ok(sharpness.score(checker) > sharpness.score(stripes), 'fine detail is sharper than one edge');
  assert.equal(contrast.score(flat), 0);
  assert.ok(Math.abs(contrast.score(checker) - 0.5) < 1e-6, 'half black, half white: std 0.5');
  assert.ok(Math.abs(colourfulness.score(flat)) < 1e-4, 'grey has no colour');
  // Pure red: rg = 255, yb = 127.5 everywhere, so M = 0.3·√(255² + 127.5²).
  assert.ok(Math.abs(colourfulness.score(image(4, 4, () => [1, 0, 0])) - 0.3 * Math.hypot(255, 127.5)) < 1e-3);
  const ref = referenceCloseness(resizeArea(checker, 4, 4));
  assert.ok(Math.abs(ref.score(image(8, 8, () => [0.5, 0.5, 0.5]))) < 1e-6, 'a checkerboard shrunk 2× is flat grey');
  assert.ok(ref.score(image(8, 8, () => [0, 0, 0])) < -0.49);
});

// One pipeline for the file: its sessions (text encoder, UNet with and without the perturbed rows,
// VAE) are built once. Previews are 64²: these tests check bookkeeping, which any size shows.
let shared: SdPipeline | undefined;
const SIZE = 64;
function sdModel(): SdHeadModel {
  shared ??= SdPipeline.load(fixture('sd15-tiny'));
  return new SdHeadModel(shared, { prompt: 'a red apple', steps: 2, cfg: 1, sampler: 'euler' });
}
after(() => shared?.release());

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'heads-search-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Counts the renders that reach the model. */
function counting(model: HeadModel): HeadModel & { renders: number } {
  const c = { layers: model.layers, architecture: model.architecture, key: model.key, renders: 0, render: (...a: Parameters<HeadModel['render']>) => (c.renders++, model.render(...a)) };
  return c;
}

test('HeadHunter on SD: greedy top-k per round, scores cached by head set, resumable', { skip }, async (t) => {
  const model = counting(sdModel());
  const cacheFile = join(tempDir(t), 'search.json');
  const pool = Array.from({ length: 4 }, (_, head) => ({ layer: 3, head: 2 * head }));
  const opts: HeadHunterOptions = { objective: sharpness, rounds: 1, k: 2, u: 1, scale: 3, size: SIZE, candidates: pool, cacheFile, samples: [{ seed: 1 }] };

  const one = await headHunter(model, opts);
  assert.equal(one.renders, 2 + 4 + 1, 'two baselines, four candidates, the chosen set');
  // Round 1 must add the two heads whose single-head previews score best, scored as the objective does.
  const direct = [];
  for (const h of pool) direct.push({ h, s: sharpness.score(await model.render([{ ...h, u: 1 }], { scale: 3, seed: 1, size: SIZE })) });
  direct.sort((a, b) => b.s - a.s);
  assert.deepEqual(one.rounds[0].added, direct.slice(0, 2).map((d) => d.h));
  assert.deepEqual(one.rounds[0].ranking.map((r) => r.score), direct.map((d) => d.s));
  assert.equal(one.baselines!.none, sharpness.score(await model.render([], { scale: 3, seed: 1, size: SIZE })));

  const before = model.renders;
  const two = await headHunter(model, { ...opts, rounds: 2 });
  assert.equal(model.renders - before, 2 + 1, 'round 1 comes from the cache; round 2 renders its two candidates and its set');
  assert.deepEqual(two.rounds[0], one.rounds[0]);
  assert.equal(two.heads.length, 4);
  assert.ok(two.rounds[1].ranking.every((r) => !one.rounds[0].added.some((a) => `L${a.layer}H${a.head}` === r.head)), 'chosen heads leave the pool');

  const again = await headHunter(model, { ...opts, rounds: 2 });
  assert.equal(again.renders, 0);
  assert.deepEqual(again.heads, two.heads);
  await assert.rejects(headHunter(model, { ...opts, scale: 2 }), /was made with other settings \(scale 3 there, 2 now\); delete it or choose another cache file/);
  await assert.rejects(headHunter(model, { ...opts, cacheFile: undefined, candidates: [{ layer: 3, head: 8 }] }), /head search candidates: head L3H8: layer 3 .* has heads 0–7/);
  await assert.rejects(headHunter(model, { ...opts, cacheFile: undefined, u: 1.5 }), /strength u must be above 0 and at most 1 \(got 1\.5\)/);
});

test('HeadHunter with a person choosing: picks per round from an async iterator, cached for resume', { skip }, async (t) => {
  const model = counting(sdModel());
  const pool = [{ layer: 3, head: 0 }, { layer: 3, head: 5 }, { layer: 10, head: 2 }];
  async function* person(): AsyncGenerator<string[]> {
    yield ['L10H2', 'L3H5'];
    yield [];
  }
  const shown: string[][] = [[], [], []];
  const cacheFile = join(tempDir(t), 'picks.json');
  const opts: HeadHunterOptions = {
    objective: picksObjective(person()),
    rounds: 3, k: 1, u: 0.5, scale: 3, size: SIZE, candidates: pool, cacheFile,
    onEvent: (e) => void (e.type === 'evaluate' && shown[e.round].push(e.set)),
  };
  const r = await headHunter(model, opts);
  assert.deepEqual(r.heads, [{ layer: 10, head: 2, u: 0.5 }], 'k = 1 keeps the first pick; an empty pick ends the search');
  assert.deepEqual(shown, [['L3H0:0.5', 'L3H5:0.5', 'L10H2:0.5'], ['L3H0:0.5,L10H2:0.5', 'L3H5:0.5,L10H2:0.5'], []]);
  let round: PicksRound | undefined;
  const first = await headHunter(model, { ...opts, rounds: 1, cacheFile: undefined, objective: picksObjective((r) => ((round = r), [])) });
  assert.deepEqual(first.heads, []);
  assert.deepEqual(round?.candidates.map((c) => [c.name, c.heads, c.images.length, c.images[0].width]), [
    ['L3H0', [{ layer: 3, head: 0, u: 0.5 }], 1, SIZE], ['L3H5', [{ layer: 3, head: 5, u: 0.5 }], 1, SIZE], ['L10H2', [{ layer: 10, head: 2, u: 0.5 }], 1, SIZE],
  ]);
  assert.equal(r.renders, (1 + 3) + (1 + 2));

  const resumed = await headHunter(model, { ...opts, objective: picksObjective(() => assert.fail('picks come from the cache')) });
  assert.deepEqual(resumed.heads, r.heads);
  assert.equal(resumed.renders, 0);
  await assert.rejects(headHunter(model, { ...opts, cacheFile: undefined, objective: picksObjective(() => ['L9H9']) }), /round 1: picked L9H9, which is not among this round's candidates/);
});

test('per-head effect maps: |image(head) − image(none)| as thumbnails for the layer × head grid', { skip }, async (t) => {
  const model = sdModel();
  const heads = Array.from({ length: 4 }, (_, head) => ({ layer: 12, head }));
  let progress = 0;
  const r = await headEffectMaps(model, { scale: 3, seed: 2, size: SIZE, thumbnail: 8, heads, onMap: (done) => (progress = done) });
  assert.equal(progress, 4);
  assert.equal(r.maps.length, 4);
  let peak = 0;
  for (const m of r.maps) {
    assert.deepEqual([m.map.width, m.map.height, m.map.data.length], [8, 8, 8 * 8 * 3]);
    const thumbMean = m.map.data.reduce((a, b) => a + b, 0) / m.map.data.length;
    assert.ok(Math.abs(thumbMean - m.mean) < 1e-6, `L${m.layer}H${m.head}: area averaging keeps the mean`);
    assert.ok(m.mean > 0, `L${m.layer}H${m.head} changes the preview`);
    peak = Math.max(peak, ...m.map.data);
  }
  assert.equal(r.gain, 1 / peak);
  const h3 = await model.render([{ layer: 12, head: 3, u: 1 }], { scale: 3, seed: 2, size: SIZE });
  assert.deepEqual(r.maps[3].map, resizeArea(absDiff(h3, r.base), 8, 8));
});
