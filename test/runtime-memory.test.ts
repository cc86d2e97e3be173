// Released sessions give their memory back to the OS because the host process starts with
// MALLOC_TRIM_THRESHOLD_=0; the same host without it keeps what glibc cached (research/engine.md §3).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { EngineClient } from '../pipelines/host/client.ts';
import { processHost, type ProcessHostOptions } from '../pipelines/host/launchers.ts';
import { writeSafetensors } from '../pipelines/io/safetensors.ts';
import type { jobs } from './runtime-jobs.ts';

const glibc = process.platform === 'linux' && Boolean((process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime);
const skip = glibc ? false : 'measures glibc heap behaviour through /proc (Linux with glibc only)';

const N = 1024;
const TENSORS = 24;
/** What ORT allocates when it folds the fp16→fp32 Casts: 96 MiB in 4 MiB pieces. */
const FOLDED_BYTES = TENSORS * N * N * 4;
const MiB = 2 ** 20;

const dir = mkdtempSync(join(tmpdir(), 'studio-memory-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function cycles(env: ProcessHostOptions['env'], weights: string) {
  const c = new EngineClient<typeof jobs>({ host: processHost({ env }), jobModules: [new URL('./runtime-jobs.ts', import.meta.url)] });
  try {
    return await c.run('test.memory', { weights, cycles: 3 });
  } finally {
    await c.close();
  }
}

test('the host process gives memory back after session creation and release, thanks to MALLOC_TRIM_THRESHOLD_=0', { skip }, async () => {
  const weights = join(dir, 'w.safetensors');
  const tensors: Parameters<typeof writeSafetensors>[1] = {};
  for (let i = 0; i < TENSORS; i++) tensors[`w${String(i).padStart(2, '0')}`] = { dtype: 'F16', shape: [N, N], data: new Uint16Array(N * N).fill(0x1400) };
  writeSafetensors(weights, tensors);

  // Cycle 1 also sets up ORT's own state (thread pool, kernels): later cycles are measured from its end.
  // Creation peaks above the folded weights' size; `loaded` is measured after the run, `released` after release.
  const trimmed = await cycles({}, weights);
  assert.equal(trimmed.mallocTrimThreshold, '0', 'the host process starts with the variable set');
  const base = trimmed.cycles[0].released;
  for (const [i, c] of trimmed.cycles.entries()) {
    if (i === 0) continue;
    const held = Math.max(c.loaded, c.released) - base;
    assert.ok(held < 0.1 * FOLDED_BYTES, `cycle ${i + 1}: ${(held / MiB).toFixed(1)} MiB held (of ${FOLDED_BYTES / MiB} MiB folded weights)`);
  }

  const untrimmed = await cycles({ MALLOC_TRIM_THRESHOLD_: undefined }, weights);
  assert.equal(untrimmed.mallocTrimThreshold, null);
  const heldWithout = Math.max(...untrimmed.cycles.slice(1).map((c) => Math.max(c.loaded, c.released) - untrimmed.cycles[0].released));
  assert.ok(heldWithout > 0.3 * FOLDED_BYTES, `without the variable the host holds ${(heldWithout / MiB).toFixed(1)} MiB of glibc's cache, which is what the variable fixes`);
});
