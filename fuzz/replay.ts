// Replays saved findings (fuzz/findings/*.bin) through their target, one at a time, and prints how long
// each took and whether it failed: the way to tell a slow input from a machine that was stalled.
//   npx tsx fuzz/replay.ts FILE.bin …   (the target is the file name's prefix, as campaign-child writes it)
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { performance } from 'node:perf_hooks';
import { TARGETS } from './targets.ts';

const slug = (name: string) => name.replace(/[^\w.-]+/g, '-');
const files = process.argv.slice(2);
if (!files.length) throw new Error('usage: npx tsx fuzz/replay.ts FILE.bin … (files under fuzz/findings/)');

const byTarget = new Map<(typeof TARGETS)[number], string[]>();
for (const file of files) {
  // The longest name that fits: "WebSocket API message" is also the start of its live variant's name.
  const target = TARGETS.filter((t) => basename(file).startsWith(`${slug(t.name)}-`)).sort((a, b) => b.name.length - a.name.length)[0];
  if (!target) throw new Error(`${file}: its name starts with no fuzz target's name (${TARGETS.map((t) => slug(t.name)).join(', ')})`);
  byTarget.set(target, [...(byTarget.get(target) ?? []), file]);
}

console.log('| target | file | bytes | ms | outcome |\n| --- | --- | ---: | ---: | --- |');
for (const [target, group] of byTarget) {
  await target.start?.();
  try {
    for (const file of group) {
      const bytes = new Uint8Array(readFileSync(file));
      const input = typeof target.seeds()[0] === 'string' ? Buffer.from(bytes).toString('utf8') : bytes;
      const t0 = performance.now();
      let outcome = 'ok';
      try {
        await target.run(input);
      } catch (e) {
        outcome = target.expected(e) ? `refused: ${(e as Error).message.slice(0, 80)}` : `CRASH: ${String(e).slice(0, 80)}`;
      }
      console.log(`| ${target.name} | ${basename(file)} | ${bytes.length} | ${(performance.now() - t0).toFixed(1)} | ${outcome} |`);
    }
  } finally {
    await target.stop?.();
  }
}
