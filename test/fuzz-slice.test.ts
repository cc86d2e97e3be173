// A bounded slice of `npm run fuzz` inside `npm test`: every target, a fixed seed, 1,500 inputs each
// (300 for the live targets, which start a real `studio serve` and talk to it over sockets).
// A crash is an error other than the parser's own refusal; the long runs are in docs/reliability.md.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCampaign } from '../fuzz/engine.ts';
import { TARGETS } from '../fuzz/targets.ts';

for (const target of TARGETS) {
  test(`fuzz slice: ${target.name}`, { timeout: 300_000 }, async () => {
    const inputs = target.live ? 300 : 1500;
    // The hang threshold is far above any input's cost here, so only a real stall can trip it.
    const stats = await runCampaign(target, { inputs, seed: 20261204, hangMs: 30_000 });
    assert.equal(stats.inputs, inputs);
    assert.deepEqual(stats.findings, [], JSON.stringify(stats.findings.slice(0, 2)).slice(0, 2000));
  });
}
