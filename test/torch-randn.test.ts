import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import { TorchGenerator, randn, MAX_RANDN_ELEMENTS } from '../pipelines/random/torch-randn.ts';
import { fixture, skipWithoutFixtures } from './fixtures.ts';

interface RandnFixture {
  seeds: bigint[];
  shapes: number[][];
}

function loadFixture(): RandnFixture {
  const text = readFileSync(fixture('torch_randn.json'), 'utf8');
  // Seeds up to 2^63 lose digits in JSON.parse, so read them from the text as bigints.
  const seedList = /"seeds"\s*:\s*\[([^\]]*)\]/.exec(text);
  assert.ok(seedList, 'torch_randn.json has no "seeds" array');
  const seeds = seedList[1].split(',').map((s) => BigInt(s.trim()));
  const { shapes } = JSON.parse(text) as { shapes: number[][] };
  return { seeds, shapes };
}

/** Number of float32 steps between a and b (0 when bit-identical). */
function ulpDistance(a: number, b: number): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat32(0, a);
  view.setFloat32(4, b);
  const ia = view.getInt32(0);
  const ib = view.getInt32(4);
  const ordered = (i: number) => (i < 0 ? -0x80000000 - i : i);
  return Math.abs(ordered(ia) - ordered(ib));
}

test('randn reproduces torch for every seed and shape, drawn in order from one generator', { skip: skipWithoutFixtures }, () => {
  const { seeds, shapes } = loadFixture();
  const golden = SafetensorsFile.open(fixture('torch_randn.safetensors'));
  assert.ok(seeds.length >= 5 && shapes.length >= 7, 'fixture lists fewer cases than expected');
  for (const seed of seeds) {
    const generator = new TorchGenerator(seed);
    for (const shape of shapes) {
      const key = `randn_seed${seed}_${shape.join('x')}`;
      const expected = golden.readFloat32(key);
      const actual = generator.randn(shape);
      assert.equal(actual.length, expected.length, key);
      let differing = 0;
      let worstUlp = 0;
      for (let i = 0; i < expected.length; i++) {
        const d = ulpDistance(actual[i], expected[i]);
        if (d !== 0) differing++;
        worstUlp = Math.max(worstUlp, d);
      }
      assert.ok(worstUlp <= 1, `${key}: ${differing} values differ, worst by ${worstUlp} ulp`);
      assert.equal(differing, 0, `${key}: ${differing} values differ by 1 ulp`);
    }
  }
});

test('both samplers are exercised: sizes below 16 use the cached double path, 16 and up the float path', () => {
  // The double path caches the sine branch: drawing 1 then 1 equals drawing 2 at once.
  const a = new TorchGenerator(7);
  const pair = [...a.randn([1]), ...a.randn([1])];
  assert.deepEqual(pair, [...new TorchGenerator(7).randn([2])]);
  // The float path is not a prefix of a longer draw: the tail block of 17 is redrawn.
  const x16 = new TorchGenerator(7).randn([16]);
  const x17 = new TorchGenerator(7).randn([17]);
  assert.deepEqual([...x17.subarray(0, 1)], [...x16.subarray(0, 1)]);
  assert.notDeepEqual([...x17.subarray(1, 16)], [...x16.subarray(1, 16)]);
});

test('manualSeed restarts the stream and drops the cached normal', () => {
  const g = new TorchGenerator(3);
  const first = g.randn([3]);
  g.randn([5]);
  g.manualSeed(3);
  assert.deepEqual(g.randn([3]), first);
  assert.deepEqual(randn([3], 3), first);
});

test('seeds are accepted as number or bigint, and only the low 32 bits seed the engine (as in torch)', () => {
  assert.deepEqual(randn([20], 42), randn([20], 42n));
  assert.deepEqual(randn([20], 2n ** 32n + 42n), randn([20], 42));
  assert.deepEqual(randn([20], 2n ** 64n - 1n), randn([20], 0xffffffff));
});

test('bad seeds are rejected with a clear error', () => {
  assert.throws(() => randn([1], -1), /seed -1 is out of range/);
  assert.throws(() => randn([1], 2n ** 64n), /out of range: use an integer from 0 to 2\^64-1/);
  assert.throws(() => randn([1], 1.5), /seed 1.5 is not a safe integer/);
  assert.throws(() => randn([1], 2 ** 60), /bigint for seeds above 2\^53/);
  assert.throws(() => randn([1], Number.NaN), /not a safe integer/);
});

test('bad shapes are rejected with a clear error', () => {
  assert.throws(() => randn([2, -1], 0), /dimension 1 is -1, expected an integer >= 0/);
  assert.throws(() => randn([2.5], 0), /dimension 0 is 2.5/);
  assert.throws(() => randn([65536, 65536], 0), new RegExp(`over the limit of ${MAX_RANDN_ELEMENTS}`));
  assert.equal(randn([0, 4], 0).length, 0);
  assert.equal(randn([], 0).length, 1);
});
