// The README's examples that need no download (the built-in emoji models and the tiny reference
// fixtures), run through the real `studio` command, must draw exactly what was recorded (392df83; the
// emoji examples again after issue 20 retrained the emoji text encoder).
// Pinned per PNG: SHA-256 of the decoded pixels (checked first, so a failure says whether the image
// or only its metadata changed) and of the whole file's bytes (pixels plus the A1111 `parameters`
// and studio JSON chunks; they hold no time or absolute path, see test/readme-png-cases.ts).
// After an intended change of the images, re-record: npx tsx scripts/record-png-pins.ts
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fixturesDir, skipWithoutFixtures } from './fixtures.ts';
import { PIN_CASES, pinsOf, preparePinFolder, runInLanes, runStudio, type PngPin } from './readme-png-cases.ts';

const expected = JSON.parse(readFileSync(join(import.meta.dirname, 'readme-png-pin.json'), 'utf8')) as Record<string, Record<string, PngPin>>;

describe('README examples draw the pinned PNGs', { skip: skipWithoutFixtures }, () => {
  const fixtures = fixturesDir();
  const folder = fixtures ? preparePinFolder(fixtures) : undefined;
  // Two studio processes at a time: each is mostly start-up and ORT session creation.
  const runs = folder ? runInLanes(PIN_CASES.map((c) => async () => runStudio(c.args, await folder).then(async () => pinsOf(await folder, c.out))), 2) : [];
  after(async () => {
    await Promise.allSettled(runs);
    if (folder) rmSync(await folder, { recursive: true, force: true });
  });

  test('every case has pins and every pin has a case', () => {
    assert.deepEqual(Object.keys(expected).sort(), PIN_CASES.map((c) => c.name).sort());
  });

  for (const [i, c] of PIN_CASES.entries()) {
    test(`studio ${c.args.join(' ')}`, async () => {
      const got = await runs[i];
      const want = expected[c.name];
      assert.deepEqual(Object.keys(got), Object.keys(want), `${c.name}: the files written`);
      for (const [file, pin] of Object.entries(want)) {
        assert.equal(got[file].pixels, pin.pixels, `${c.name}: the pixels of ${file} changed`);
        assert.equal(got[file].png, pin.png, `${c.name}: the pixels of ${file} are the same but its PNG bytes (metadata chunks) changed`);
      }
    });
  }
});
