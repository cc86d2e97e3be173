// The ControlNet preprocessors written here: Canny (OpenCV's algorithm and A1111's 100/200 thresholds)
// and soft edges, on drawn shapes whose edges are known.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { canny, softEdges } from '../pipelines/recipes/controlnet/edges.ts';
import { readControlImage } from '../pipelines/recipes/controlnet/control-image.ts';

const W = 48;
/** A square of grey level `level` on `background`, rows/columns [16, 32). */
function square(level: number, background = 0): Uint8Array {
  const g = new Uint8Array(W * W).fill(background);
  for (let y = 16; y < 32; y++) for (let x = 16; x < 32; x++) g[y * W + x] = level;
  return g;
}
const onBorder = (x: number, y: number) => (x >= 15 && x <= 32 && y >= 15 && y <= 32) && !(x >= 17 && x <= 30 && y >= 17 && y <= 30);

test('canny: a bright square gives thin closed edges on its border and nothing elsewhere', () => {
  const edges = canny(square(200), W, W);
  let on = 0;
  for (let y = 0; y < W; y++) for (let x = 0; x < W; x++) {
    const v = edges[y * W + x];
    assert.ok(v === 0 || v === 255, 'binary');
    if (v) {
      assert.ok(onBorder(x, y), `edge pixel at ${x},${y} off the border`);
      on++;
    }
  }
  // Each side one pixel thick (a little more at the corners): between 4·14 and 4·18 pixels.
  assert.ok(on >= 56 && on <= 72, `${on} edge pixels`);
  for (const x of [16, 24, 31]) assert.ok(edges[15 * W + x] || edges[16 * W + x], `top side at x=${x}`);
});

test('canny: a step under the low threshold gives no edges; a weak step counts only where it joins a strong one', () => {
  // A vertical step of d grey levels at x = 24: Sobel's L1 magnitude on it is 4d.
  const step = (d: number, strongRows = 0) => {
    const g = new Uint8Array(W * W);
    for (let y = 0; y < W; y++) for (let x = 24; x < W; x++) g[y * W + x] = y < strongRows ? 100 : d;
    return g;
  };
  // Below the strong rows (whose lower border is an edge of its own): which columns have edges.
  const columns = (e: Uint8Array) => new Set([...e.keys()].filter((i) => e[i] && i >= 10 * W).map((i) => i % W));
  const rows = (e: Uint8Array) => new Set([...e.keys()].filter((i) => e[i]).map((i) => Math.floor(i / W)));
  assert.equal(canny(step(20), W, W).reduce((a, b) => a + b, 0), 0, '80 < low');
  assert.equal(canny(step(40), W, W).reduce((a, b) => a + b, 0), 0, '160: weak, and no strong pixel to start from');
  const joined = canny(step(40, 8), W, W);
  assert.equal(rows(joined).size, W, 'the weak step is kept all the way down from the strong rows (400) at the top');
  assert.ok([...columns(joined)].every((x) => x === 23 || x === 24), `edges only on the step: columns ${[...columns(joined)]}`);
});

test('soft edges: grey ramps, white at the strongest edges, black on flat areas', () => {
  const e = softEdges(square(200), W, W);
  assert.equal(e[0], 0);
  assert.equal(e[24 * W + 24], 0, 'inside the square is flat');
  assert.equal(Math.max(...e), 255);
  assert.ok(e.some((v) => v > 0 && v < 255), 'not binary');
  for (let y = 0; y < W; y++) for (let x = 0; x < W; x++) if (e[y * W + x]) assert.ok(onBorder(x, y), `${x},${y}`);
});

test('control images: used as they are, or as edges; the same three channels', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'control-image-'));
  const path = join(dir, 'square.png');
  await sharp(square(200, 30), { raw: { width: W, height: W, channels: 1 } }).png().toFile(path);
  const plain = await readControlImage(path, W, W, 'none');
  assert.equal(plain.notice, undefined);
  assert.equal(plain.image[0], Math.fround(30 / 255));
  assert.equal(plain.image[24 * W + 24], Math.fround(200 / 255));
  const edges = await readControlImage(path, W, W, 'canny');
  const plane = W * W;
  assert.deepEqual(edges.image.subarray(0, plane), edges.image.subarray(plane, 2 * plane));
  assert.deepEqual(Array.from(edges.image.subarray(0, plane), (v) => Math.round(v * 255)), Array.from(canny(square(200, 30), W, W)));
  const soft = await readControlImage(path, W, W, 'softedge');
  assert.ok(soft.image.some((v) => v > 0 && v < 1));
  assert.equal(soft.image[0], 0);
});
