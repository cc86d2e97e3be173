import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Session, ort, tensor } from '../pipelines/runtime/session.ts';
import { buildDiTGraph } from '../pipelines/models/dit/model.ts';
import { parseDiTConfig, ditTensorShapes } from '../pipelines/models/dit/config.ts';
import { sincosPosEmbed2d } from '../pipelines/models/dit/embeddings.ts';
import { fixture, relL2, skipWithoutFixtures, tinyClassConditional } from './fixtures.ts';

const skip = skipWithoutFixtures;

const loadTiny = () => tinyClassConditional('dit-tiny', parseDiTConfig);

const labels = (ys: Float32Array) => new ort.Tensor('int64', BigInt64Array.from(ys, (v) => BigInt(v)), [ys.length]);

async function run(session: Session, x: Float32Array, shape: number[], t: Float32Array, y: Float32Array, scale?: number): Promise<Float32Array> {
  const feeds: Record<string, ort.Tensor> = { x: tensor(x, shape), t: tensor(t, [t.length]), y: labels(y) };
  if (scale !== undefined) feeds.cfg_scale = tensor(Float32Array.of(scale), [1]);
  return (await session.run(feeds)).out.data as Float32Array;
}

test('DiT forward matches the reference on dit-tiny (rel-L2 < 1e-4)', { skip }, async () => {
  const { cfg, weights, golden } = loadTiny();
  const shape = golden.info('x').shape;
  const graph = buildDiTGraph(weights, cfg, { batch: shape[0], height: shape[2], width: shape[3] });
  const session = await Session.create(graph, { providers: ['cpu'] });
  try {
    const out = await run(session, golden.readFloat32('x'), shape, golden.readFloat32('t'), golden.readFloat32('y'));
    assert.deepEqual(session.inner.outputNames, ['out']);
    const err = relL2(out, golden.readFloat32('out'));
    console.log(`dit-tiny forward rel-L2 = ${err.toExponential(2)}`);
    assert.ok(err < 1e-4, `rel-L2 ${err}`);
  } finally {
    await session.release();
  }
});

test('2-D sin-cos position table matches the fixture pos_embed up to its planted noise', { skip }, () => {
  // The fixture stores sin-cos + N(0, 0.1) noise (so a port must read the stored buffer); a table with
  // rows and columns swapped or halves in the wrong order is off by O(1) and fails this bound.
  const { cfg, weights } = loadTiny();
  const grid = cfg.input_size / cfg.patch_size;
  const ours = sincosPosEmbed2d(cfg.hidden_size, grid, grid);
  const stored = weights.readFloat32('pos_embed');
  let sq = 0;
  for (let i = 0; i < ours.length; i++) sq += (stored[i] - ours[i]) ** 2;
  const rms = Math.sqrt(sq / ours.length);
  assert.ok(rms > 0.05 && rms < 0.15, `rms difference ${rms}`);
  assert.deepEqual(ditTensorShapes(cfg).pos_embed, weights.info('pos_embed').shape);
});

test('DiT forward_with_cfg guides the first 3 channels: ε_u + s·(ε_c − ε_u), rest per half', { skip }, async () => {
  const { cfg, weights, golden } = loadTiny();
  const [, c, h, w] = golden.info('x').shape;
  const x0 = golden.readFloat32('x').subarray(0, c * h * w);
  const scale = 4;
  const plain = await Session.create(buildDiTGraph(weights, cfg, { batch: 2, height: h, width: w }), { providers: ['cpu'] });
  const guided = await Session.create(buildDiTGraph(weights, cfg, { batch: 1, height: h, width: w, guidance: {} }), { providers: ['cpu'] });
  try {
    const both = new Float32Array(2 * x0.length);
    both.set(x0, 0);
    both.set(x0, x0.length);
    const ref = await run(plain, both, [2, c, h, w], Float32Array.of(700, 700), Float32Array.of(3, cfg.num_classes));
    const out = await run(guided, x0, [1, c, h, w], Float32Array.of(700), Float32Array.of(3), scale);
    const plane = h * w;
    const outC = ref.length / 2 / plane;
    const expected = new Float32Array(ref.length);
    for (let n = 0; n < 2; n++) {
      for (let ch = 0; ch < outC; ch++) {
        for (let i = 0; i < plane; i++) {
          const at = (b: number) => (b * outC + ch) * plane + i;
          expected[at(n)] = ch < 3 ? ref[at(1)] + scale * (ref[at(0)] - ref[at(1)]) : ref[at(n)];
        }
      }
    }
    const err = relL2(out, expected);
    assert.ok(err < 1e-5, `rel-L2 ${err}`);
  } finally {
    await plain.release();
    await guided.release();
  }
});
