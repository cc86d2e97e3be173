// One target's campaign in its own process (so a native crash or a real hang is seen by run.ts and
// counted, not fatal to the run): prints progress lines, then one JSON line with the statistics.
import { mkdirSync, writeFileSync } from 'node:fs';
import { runCampaign } from './engine.ts';
import { TARGETS } from './targets.ts';

const [name, inputs, seed, hangMs, seconds] = process.argv.slice(2);
const target = TARGETS.find((t) => t.name === name);
if (!target) throw new Error(`no fuzz target "${name}"`);
const stats = await runCampaign(target, {
  inputs: Number(inputs),
  seed: Number(seed),
  hangMs: Number(hangMs),
  seconds: seconds ? Number(seconds) : undefined,
  onProgress: (done) => process.stdout.write(`progress ${done}\n`),
  onFinding: (input, i) => {
    const dir = new URL('./findings/', import.meta.url);
    mkdirSync(dir, { recursive: true });
    writeFileSync(new URL(`${name.replace(/[^\w.-]+/g, '-')}-${seed}-${i}.bin`, dir), typeof input === 'string' ? Buffer.from(input, 'utf8') : (input as Uint8Array));
  },
});
const maxRssMiB = target.serverPeakRssMiB?.() ?? process.resourceUsage().maxRSS / 1024;
process.stdout.write(`result ${JSON.stringify({ ...stats, maxRssMiB })}\n`);
