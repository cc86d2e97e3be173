import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import { Session, ort, tensor } from '../pipelines/runtime/session.ts';
import { buildDiCoGraph } from '../pipelines/models/dico/model.ts';
import { dicoTensorShapes, parseDiCoConfig } from '../pipelines/models/dico/config.ts';
import { fixture, relL2, skipWithoutFixtures, tinyClassConditional } from './fixtures.ts';

const skip = skipWithoutFixtures;

const loadTiny = () => tinyClassConditional('dico-tiny', parseDiCoConfig);

/**
 * The DiCo goldens hold their bytes in channels-last order under an [N, C, H, W] header: the reference's
 * LayerNorm2d permutes leave the final conv's output channels-last in memory, and the fixture writer
 * saved storage order. Returns the golden in true NCHW order, whichever layout the file has (a model
 * that is wrong matches neither).
 */
function goldenNCHW(golden: SafetensorsFile, name: string, ours: Float32Array): { data: Float32Array; layout: string } {
  const stored = golden.readFloat32(name);
  const [n, c, h, w] = golden.info(name).shape;
  const fromNHWC = new Float32Array(stored.length);
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      for (let p = 0; p < h * w; p++) fromNHWC[(b * c + ch) * h * w + p] = stored[(b * h * w + p) * c + ch];
    }
  }
  return relL2(ours, stored) <= relL2(ours, fromNHWC) ? { data: stored, layout: 'NCHW' } : { data: fromNHWC, layout: 'channels-last' };
}

const labels = (ys: ArrayLike<number>) => new ort.Tensor('int64', BigInt64Array.from(ys, (v) => BigInt(v)), [ys.length]);

test('the DiCo tensor list covers the fixture checkpoint exactly', { skip }, () => {
  const { cfg, weights } = loadTiny();
  const expected = dicoTensorShapes(cfg);
  assert.deepEqual(Object.keys(expected).sort(), weights.keys().sort());
  for (const [name, shape] of Object.entries(expected)) assert.deepEqual(weights.info(name).shape, shape, name);
});

test('DiCo forward matches the reference on dico-tiny (rel-L2 < 1e-4)', { skip }, async () => {
  const { cfg, weights, golden } = loadTiny();
  const shape = golden.info('x').shape;
  const session = await Session.create(buildDiCoGraph(weights, cfg, { batch: shape[0], height: shape[2], width: shape[3] }), { providers: ['cpu'] });
  try {
    const feeds = { x: tensor(golden.readFloat32('x'), shape), t: tensor(golden.readFloat32('t'), [shape[0]]), y: labels(golden.readFloat32('y')) };
    const out = (await session.run(feeds)).out.data as Float32Array;
    const ref = goldenNCHW(golden, 'out', out);
    const err = relL2(out, ref.data);
    console.log(`dico-tiny forward rel-L2 = ${err.toExponential(2)} (golden stored ${ref.layout})`);
    assert.ok(err < 1e-4, `rel-L2 ${err}`);
  } finally {
    await session.release();
  }
});

test('DiCo forward_with_cfg (scale 4, labels [3, null], t 700) matches the reference (rel-L2 < 1e-4)', { skip }, async () => {
  // Reference: forward_with_cfg(cat[x0, x0], [700, 700], [3, 10], 4.0), x0 the golden x's first image.
  const { cfg, weights, golden } = loadTiny();
  const [, c, h, w] = golden.info('x').shape;
  const x0 = golden.readFloat32('x').slice(0, c * h * w);
  const session = await Session.create(buildDiCoGraph(weights, cfg, { batch: 1, height: h, width: w, guidance: {} }), { providers: ['cpu'] });
  try {
    const feeds = { x: tensor(x0, [1, c, h, w]), t: tensor(Float32Array.of(700), [1]), y: labels([3]), cfg_scale: tensor(Float32Array.of(4), [1]) };
    const out = (await session.run(feeds)).out.data as Float32Array;
    const ref = goldenNCHW(golden, 'out_cfg4', out);
    const err = relL2(out, ref.data);
    console.log(`dico-tiny forward_with_cfg rel-L2 = ${err.toExponential(2)} (golden stored ${ref.layout})`);
    assert.ok(err < 1e-4, `rel-L2 ${err}`);
    // Channels 3.. are not guided, so the two halves differ there and agree on channels 0–2.
    const plane = h * w;
    const outC = out.length / 2 / plane;
    assert.equal(relL2(out.subarray(0, 3 * plane), out.subarray(outC * plane, (outC + 3) * plane)), 0);
  } finally {
    await session.release();
  }
});
