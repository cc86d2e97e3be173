// Head presets, head lists and `--heads` resolution against the real architectures of the tiny SD 1.x
// and SDXL fixtures: round trips, composition, and the errors for bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixture, skipWithoutFixtures as skip } from './fixtures.ts';
import { inspectSdHeads } from '../pipelines/heads/sd-model.ts';
import { fingerprintHash } from '../pipelines/heads/architecture.ts';
import { composePresets, makeHeadPreset, mergePicks, parseHeadPreset, presetPicks, readHeadPreset, writeHeadPreset, type HeadPreset } from '../pipelines/heads/presets.ts';
import { expandHeadSpec, formatHeadSpec, parseHeadSpec } from '../pipelines/heads/spec.ts';
import { resolveHeads } from '../pipelines/heads/resolve.ts';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'heads-presets-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('the fixture architectures: family, head counts and a hash of them', { skip }, () => {
  const sd1 = inspectSdHeads(fixture('sd15-tiny'));
  assert.equal(sd1.architecture.family, 'sd1');
  assert.deepEqual(sd1.architecture.heads, sd1.layers.map((l) => l.heads));
  assert.equal(sd1.layers.length, 16);
  assert.equal(sd1.architecture.hash, fingerprintHash('sd1', sd1.architecture.heads));
  assert.notEqual(sd1.architecture.hash, fingerprintHash('sd2', sd1.architecture.heads));
  assert.notEqual(sd1.architecture.hash, fingerprintHash('sd1', [...sd1.architecture.heads.slice(1), 4]));
});

test('a preset round-trips through its file and applies to its own architecture', { skip }, (t) => {
  const { architecture } = inspectSdHeads(fixture('sd15-tiny'));
  const preset = makeHeadPreset({ name: 'crisp', architecture, scale: 3, heads: [{ layer: 3, head: 1, u: 0.5 }, { layer: 15, head: 7, u: 1 }] });
  const file = join(tempDir(t), 'crisp.json');
  writeHeadPreset(file, preset);
  const back = readHeadPreset(file);
  assert.deepEqual(back, preset);
  assert.deepEqual(presetPicks(back, architecture), [{ layer: 3, head: 1, u: 0.5 }, { layer: 15, head: 7, u: 1 }]);
});

test('preset validation says what is wrong where', { skip }, () => {
  const { architecture } = inspectSdHeads(fixture('sd15-tiny'));
  const good = makeHeadPreset({ name: 'p', architecture, scale: 3, heads: [{ layer: 3, head: 1, u: 0.5 }] });
  const bad = (edit: (p: Record<string, unknown>) => void, expected: RegExp) => {
    const p = structuredClone(good) as unknown as Record<string, unknown>;
    edit(p);
    assert.throws(() => parseHeadPreset(p, 'my.json'), (e: Error) => {
      assert.match(e.message, /^my\.json is not a valid head preset:/);
      assert.match(e.message, expected);
      return true;
    });
  };
  const heads = (p: Record<string, unknown>) => p.heads as Array<Record<string, unknown>>;
  bad((p) => (heads(p)[0].u = 1.5), /heads\[0\]\.u: must be from 0 to 1 \(got 1\.5\)/);
  bad((p) => (heads(p)[0].u = -0.1), /heads\[0\]\.u: must be from 0 to 1 \(got -0\.1\)/);
  bad((p) => (heads(p)[0].head = 8), /heads\[0\]\.head: L3H8: layer 3 has heads 0–7/);
  bad((p) => (heads(p)[0].layer = 16), /heads\[0\]\.layer: L16H1: layer 16 does not exist \(the architecture has layers 0–15\)/);
  bad((p) => heads(p).push({ layer: 3, head: 1, u: 1 }), /heads\[1\]: L3H1 is listed twice/);
  bad((p) => (heads(p)[0] = { layer: 3, head: 1, strength: 1 }), /heads\[0\]\.u: must be a number/);
  bad((p) => ((p.architecture as { heads: number[] }).heads[0] = 4), /architecture\.hash: does not match its family and head counts/);
  bad((p) => (p.version = 2), /version: must be 1/);
  bad((p) => (p.heads = []), /heads: needs at least one head/);
});

test('a preset for another architecture is refused, naming the difference', { skip }, () => {
  const sd1 = inspectSdHeads(fixture('sd15-tiny')).architecture;
  const sdxl = inspectSdHeads(fixture('sdxl-tiny')).architecture;
  const preset = makeHeadPreset({ name: 'crisp', architecture: sd1, scale: 3, heads: [{ layer: 0, head: 0, u: 1 }] });
  assert.throws(() => presetPicks(preset, sdxl), /head preset "crisp" does not fit this model: it is for a sd1 model and this model is sdxl/);
  const other = { ...sd1, heads: sd1.heads.map((h, i) => (i === 5 ? 4 : h)) };
  assert.throws(() => presetPicks(preset, { ...other, hash: fingerprintHash('sd1', other.heads) }), /its layer 5 has 8 heads and this model's has 4/);
  const xl = makeHeadPreset({ name: 'xl', architecture: sdxl, scale: 3, heads: [{ layer: 0, head: 0, u: 1 }] });
  assert.throws(() => composePresets([preset, xl]), /cannot compose head presets "crisp" \(sd1 .*\) and "xl" \(sdxl .*\): they are for different architectures/);
});

test('composing presets keeps each head at its largest u and the largest scale', { skip }, () => {
  const arch = inspectSdHeads(fixture('sd15-tiny')).architecture;
  const a = makeHeadPreset({ name: 'a', architecture: arch, scale: 2, heads: [{ layer: 1, head: 0, u: 0.25 }, { layer: 2, head: 3, u: 1 }] });
  const b = makeHeadPreset({ name: 'b', architecture: arch, scale: 4, heads: [{ layer: 1, head: 0, u: 0.75 }, { layer: 0, head: 2, u: 0.5 }] });
  const both: HeadPreset = composePresets([a, b]);
  assert.equal(both.name, 'a+b');
  assert.equal(both.scale, 4);
  assert.deepEqual(both.heads, [{ layer: 0, head: 2, u: 0.5 }, { layer: 1, head: 0, u: 0.75 }, { layer: 2, head: 3, u: 1 }]);
  assert.deepEqual(composePresets([b, a]).heads, both.heads, 'order does not matter');
  assert.deepEqual(mergePicks(a.heads, a.heads), a.heads.slice().sort((x, y) => x.layer - y.layer), 'a preset with itself is itself');
});

test('head lists: L3H1:0.5, whole layers, overrides, and their errors', { skip }, () => {
  const { layers } = inspectSdHeads(fixture('sd15-tiny'));
  assert.deepEqual(expandHeadSpec(parseHeadSpec('L3H1:0.5,L4H0:1'), layers), [{ layer: 3, head: 1, u: 0.5 }, { layer: 4, head: 0, u: 1 }]);
  const whole = expandHeadSpec(parseHeadSpec('L3:1'), layers);
  assert.deepEqual(whole, Array.from({ length: 8 }, (_, head) => ({ layer: 3, head, u: 1 })));
  assert.deepEqual(expandHeadSpec(parseHeadSpec('l3'), layers), whole, 'u defaults to 1; case does not matter');
  const mixed = expandHeadSpec(parseHeadSpec('L3:0.5, L3H1:1'), layers);
  assert.equal(mixed.length, 8);
  assert.equal(mixed.find((p) => p.head === 1)?.u, 1);
  assert.equal(mixed.find((p) => p.head === 2)?.u, 0.5);
  assert.deepEqual(expandHeadSpec(parseHeadSpec(formatHeadSpec(mixed)), layers), mixed);

  assert.throws(() => expandHeadSpec(parseHeadSpec('L16H0'), layers), /layer 16 does not exist \(this model has self-attention layers 0–15/);
  assert.throws(() => expandHeadSpec(parseHeadSpec('L3H8:0.5'), layers), /head L3H8: layer 3 \(down_blocks\.1\.attentions\.1\.transformer_blocks\.0\.attn1\) has heads 0–7/);
  assert.throws(() => parseHeadSpec('L3H1:1.5'), /item 1 "L3H1:1.5": strength u must be a number from 0 to 1 \(got "1.5"\)/);
  assert.throws(() => parseHeadSpec('L3H1:0.5,L4H0:-1'), /item 2 "L4H0:-1": strength u must be a number from 0 to 1/);
  assert.throws(() => parseHeadSpec('L3H1:'), /strength u must be a number from 0 to 1 \(got ""\)/);
  assert.throws(() => parseHeadSpec('H3L1'), /item 1 "H3L1": expected L<layer>H<head>:<u>/);
  assert.throws(() => expandHeadSpec(parseHeadSpec('L3')), /a whole layer needs the model to be known/);
});

test('--heads values: files, preset names, head lists, and + to combine them', { skip }, (t) => {
  const { layers, architecture } = inspectSdHeads(fixture('sd15-tiny'));
  const target = { layers, architecture };
  const dir = tempDir(t);
  writeHeadPreset(join(dir, 'warm.json'), makeHeadPreset({ name: 'warm', architecture, scale: 2, heads: [{ layer: 1, head: 1, u: 0.5 }] }));
  const xl = inspectSdHeads(fixture('sdxl-tiny')).architecture;
  writeHeadPreset(join(dir, 'xl.json'), makeHeadPreset({ name: 'xl', architecture: xl, scale: 2, heads: [{ layer: 0, head: 0, u: 1 }] }));

  assert.deepEqual(resolveHeads('warm', target, [dir]), { picks: [{ layer: 1, head: 1, u: 0.5 }], presetScale: 2 });
  assert.deepEqual(resolveHeads(join(dir, 'warm.json'), target, []), { picks: [{ layer: 1, head: 1, u: 0.5 }], presetScale: 2 });
  assert.deepEqual(resolveHeads('L2H0:0.25', target, [dir]), { picks: [{ layer: 2, head: 0, u: 0.25 }] });
  assert.deepEqual(resolveHeads('warm+L1H1:1,L0H0:0.5', target, [dir]).picks, [{ layer: 0, head: 0, u: 0.5 }, { layer: 1, head: 1, u: 1 }]);
  assert.deepEqual(resolveHeads('L2H0:0.25', undefined, []), { picks: [{ layer: 2, head: 0, u: 0.25 }] }, 'explicit heads need no model');

  assert.throws(() => resolveHeads('xl', target, [dir]), /xl\.json does not fit this model: it is for a sdxl model and this model is sd1/);
  assert.throws(() => resolveHeads('cool', target, [dir]), /"cool" is not a preset file, not a head list like L3H1:0\.5,L4:1, and no preset has that name \(presets: warm, xl\)/);
  assert.throws(() => resolveHeads('warm', undefined, [dir]), /the model must be known to check that the preset fits it/);
  const broken = join(dir, 'broken.json');
  writeFileSync(broken, readFileSync(join(dir, 'warm.json'), 'utf8').replace('"u": 0.5', '"u": 2'));
  assert.throws(() => resolveHeads(broken, target, []), /broken\.json is not a valid head preset:\n {2}heads\[0\]\.u: must be from 0 to 1 \(got 2\)/);
});
