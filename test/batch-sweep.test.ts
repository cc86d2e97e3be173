// Sweeps: a 3×3 `--x cfg=… --y seed=…` batch (the real CLI with a fake engine) gives a labelled
// contact sheet of the right size, each cell the image of its (cfg, seed) and the label text actually
// rendered; a head-preset axis (presets from a plugin) puts the preset's heads into the requests.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import sharp from 'sharp';
import { parseGenerateArgs } from '../app/cli/generate-args.ts';
import { parseAxis } from '../pipelines/jobs/batch/axes.ts';
import type { BatchEngine } from '../pipelines/jobs/batch/engines.ts';
import { sheetGeometry } from '../pipelines/jobs/batch/grid.ts';
import { planBatch } from '../pipelines/jobs/batch/plan.ts';
import { runBatch } from '../pipelines/jobs/batch/runner.ts';
import { fingerprintHash } from '../pipelines/heads/architecture.ts';
import { makeHeadPreset } from '../pipelines/heads/presets.ts';
import { discoverPlugins, PresetRegistry } from '../pipelines/plugins/index.ts';
import type { GenerateRequest } from '../pipelines/jobs/api.ts';
import { studio, writeFakeEngine } from './batch-helpers.ts';

const work = mkdtempSync(join(tmpdir(), 'studio-sweep-'));
after(() => rmSync(work, { recursive: true, force: true }));

interface Raw {
  data: Buffer;
  width: number;
  channels: number;
}

async function raw(file: string): Promise<Raw> {
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, channels: info.channels };
}

/** Dark (text) pixels and the mean colour of a rectangle. */
function region(img: Raw, x0: number, y0: number, w: number, h: number): { dark: number; mean: number[] } {
  let dark = 0;
  const sum = [0, 0, 0];
  for (let y = y0; y < y0 + h; y++) {
    for (let x = x0; x < x0 + w; x++) {
      const i = (y * img.width + x) * img.channels;
      if (img.data[i] + img.data[i + 1] + img.data[i + 2] < 3 * 100) dark++;
      for (let c = 0; c < 3; c++) sum[c] += img.data[i + c];
    }
  }
  return { dark, mean: sum.map((s) => s / (w * h)) };
}

describe('sweeps and contact sheets', () => {
  test('a 3×3 sweep gives a labelled grid with each cell in its place', async () => {
    const engine = writeFakeEngine(work);
    const r = await studio(['batch', '--prompt', 'a fox', '--steps', '2', '--width', '64', '--height', '64', '--x', 'cfg=3,5,7', '--y', 'seed=1,2,3', '--out', 'sweep', '--json'], {
      cwd: work,
      env: { STUDIO_TEST_ENGINE: engine, STUDIO_PLUGINS_DIR: join(work, 'none') },
    });
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout) as { sheets: string[]; jobs: Array<{ files: string[]; labels: string[]; seed: number }> };
    assert.equal(summary.jobs.length, 9);
    assert.equal(summary.sheets.length, 1);
    const sheetFile = join(work, 'sweep', summary.sheets[0]);
    const meta = await sharp(sheetFile).metadata();
    const cols = ['cfg=3', 'cfg=5', 'cfg=7'];
    const rows = ['seed=1', 'seed=2', 'seed=3'];
    const g = sheetGeometry({ title: 'a fox', cols, rows, files: [] }, { width: 64, height: 64 });
    assert.deepEqual([meta.width, meta.height], [g.width, g.height]);
    assert.equal(g.cellWidth, 64);
    assert.ok(g.left > 0 && g.top > 0 && g.width > 3 * 64 + g.left && g.height > 3 * 64 + g.top);

    const sheet = await raw(sheetFile);
    const gap = (g.width - g.left - 3 * g.cellWidth) / 4;
    const cellX = (c: number) => g.left + gap + c * (g.cellWidth + gap);
    const cellY = (r: number) => g.top + gap + r * (g.cellHeight + gap);
    assert.ok(region(sheet, 0, 0, g.width, g.band).dark > 20, 'title text rendered');
    for (let c = 0; c < 3; c++) assert.ok(region(sheet, cellX(c), g.band, g.cellWidth, g.top - g.band).dark > 20, `label ${cols[c]} rendered`);
    for (let r = 0; r < 3; r++) assert.ok(region(sheet, 0, cellY(r), g.left, g.cellHeight).dark > 20, `label ${rows[r]} rendered`);
    assert.equal(region(sheet, 0, g.height - gap, g.width, gap).dark, 0, 'the bottom margin is blank');

    for (const job of summary.jobs) {
      const c = cols.indexOf(job.labels.find((l) => l.startsWith('cfg'))!);
      const r = rows.indexOf(job.labels.find((l) => l.startsWith('seed'))!);
      assert.equal(job.seed, r + 1);
      const cell = region(sheet, cellX(c), cellY(r), g.cellWidth, g.cellHeight).mean;
      const img = await raw(join(work, 'sweep', job.files[0]));
      const own = region(img, 0, 0, 64, 64).mean;
      for (let k = 0; k < 3; k++) assert.ok(Math.abs(cell[k] - own[k]) < 1, `cell (${c},${r}) holds ${job.files[0]}`);
    }
  });

  test('a head-preset axis puts the preset’s heads into the requests (in-process run)', async () => {
    const pluginsDir = join(work, 'plugins');
    mkdirSync(join(pluginsDir, 'heads-pack'), { recursive: true });
    const architecture = { family: 'sd1', heads: [8, 8, 8], hash: fingerprintHash('sd1', [8, 8, 8]) };
    const preset = makeHeadPreset({ name: 'crisp', architecture, scale: 3, heads: [{ layer: 1, head: 2, u: 0.5 }, { layer: 2, head: 7, u: 1 }] });
    writeFileSync(join(pluginsDir, 'heads-pack', 'studio-plugin.json'), JSON.stringify({ name: 'heads-pack', version: '1.0.0', studio: '>=0.1.0', heads: [preset] }));
    const registry = new PresetRegistry(discoverPlugins({ studioVersion: '0.1.0', pluginsDir, nodeModules: [] }));
    assert.deepEqual(registry.discovery.rejected, []);

    const parse = async (o: Record<string, string>): Promise<GenerateRequest> => {
      const a = await parseGenerateArgs(Object.entries(o).map(([k, v]) => `--${k}=${v}`));
      assert.ok(!a.help);
      return a.request;
    };
    const plan = await planBatch([{ line: 0, options: {} }], {
      source: 'options',
      defaults: { prompt: 'a fox', steps: '1', width: '64', height: '64', seed: '9' },
      x: parseAxis('--x', 'heads=none,heads-pack/crisp'),
      parse,
      headPreset: (name) => registry.resolve(name, ['head'])[0].value,
    });
    assert.equal(plan.jobs[0].request.pag, undefined);
    assert.deepEqual(plan.jobs[1].request.pag, { scale: 3, layers: ['mid'], heads: [{ layer: 1, head: 2, strength: 0.5 }, { layer: 2, head: 7, strength: 1 }] });
    assert.notEqual(plan.jobs[0].id, plan.jobs[1].id);
    await assert.rejects(
      planBatch([{ line: 0, options: {} }], { source: 'options', defaults: { prompt: 'x' }, x: parseAxis('--x', 'heads=nope'), parse, headPreset: (n) => registry.resolve(n, ['head'])[0].value }),
      /options \(heads=nope\): no head preset named "nope"; known: heads-pack\/crisp/,
    );

    const seen: GenerateRequest[] = [];
    const engine: BatchEngine = {
      run: async (request) => {
        seen.push(request);
        const pixels = new Uint8Array(64 * 64 * 3).fill(request.pag ? 200 : 50);
        return { images: [{ width: 64, height: 64, pixels, seed: request.seed, batchIndex: 0 }], model: { name: 'fake' }, ep: 'cpu', timings: {} };
      },
      close: async () => {},
    };
    const out = join(work, 'heads-sweep');
    const outcome = await runBatch({ out, plan, engines: [engine], signal: new AbortController().signal, studioVersion: '0.1.0' });
    assert.deepEqual(seen.map((r) => r.pag?.heads?.length ?? 0), [0, 2]);
    assert.equal(outcome.sheets.length, 1);
    const meta = await sharp(join(out, outcome.sheets[0])).metadata();
    const g = sheetGeometry({ title: 'a fox', cols: ['heads=none', 'heads=heads-pack/crisp'], rows: [''], files: [] }, { width: 64, height: 64 });
    assert.equal(g.left, 0, 'no row labels for a one-axis sweep');
    assert.deepEqual([meta.width, meta.height], [g.width, g.height]);
  });
});
