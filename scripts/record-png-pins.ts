// Writes test/readme-png-pin.json: the pins of every README example in test/readme-png-cases.ts,
// as this checkout draws them. Run it only on a commit whose images are the reference:
//   STUDIO_FIXTURES=/path/to/fixtures npx tsx scripts/record-png-pins.ts
import { rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fixturesDir } from '../test/fixtures.ts';
import { PIN_CASES, pinsOf, preparePinFolder, runInLanes, runStudio, type PngPin } from '../test/readme-png-cases.ts';

const fixtures = fixturesDir();
if (!fixtures) throw new Error('reference fixtures not found: set STUDIO_FIXTURES or check out shared/ beside the repo');
const dir = await preparePinFolder(fixtures);
try {
  const runs = runInLanes(PIN_CASES.map((c) => () => runStudio(c.args, dir).then(() => pinsOf(dir, c.out))), 2);
  const pins: Record<string, Record<string, PngPin>> = {};
  for (const [i, c] of PIN_CASES.entries()) pins[c.name] = await runs[i];
  const file = join(resolve(import.meta.dirname, '..'), 'test', 'readme-png-pin.json');
  writeFileSync(file, `${JSON.stringify(pins, null, 2)}\n`);
  console.log(`wrote ${file}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
