// The layer rules of .dependency-cruiser.cjs (npm run check:layers) on a small tree written here that
// breaks each rule once and keeps to them otherwise: every rule must name its violation, and only it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');

/** File → its source; each imports what the rule under test forbids (or allows). */
const TREE: Record<string, string> = {
  'pipelines/jobs/api.ts': "import { z } from 'zod';\nimport { KINDS } from '../attention/options.ts';\nexport const Job = z.enum(KINDS);\n",
  'pipelines/attention/options.ts': "export const KINDS = ['softmax'] as const;\n",
  'pipelines/samplers/euler.ts': "export const euler = (x: number) => x;\n",
  'pipelines/jobs/run.ts': "import { euler } from '../samplers/euler.ts';\nexport const run = () => euler(1);\n",
  'pipelines/metadata/png.ts': "export const png = 1;\n",
  // allowed: the renderer on the jobs API, app on jobs and metadata
  'renderer/lib/form.ts': "import { Job } from '../../pipelines/jobs/api.ts';\nexport const form = Job;\n",
  'app/cli/main.ts': "import { run } from '../../pipelines/jobs/run.ts';\nimport { png } from '../../pipelines/metadata/png.ts';\nexport const main = () => run() + png;\n",
  // renderer-only-jobs-api: reaches sampler code through a module of its own
  'renderer/lib/preview.ts': "import { run } from '../../pipelines/jobs/run.ts';\nexport const preview = run;\n",
  // renderer-no-node-builtins
  'renderer/lib/files.ts': "import { readFileSync } from 'node:fs';\nexport const read = readFileSync;\n",
  // app-through-jobs
  'app/server/draw.ts': "import { euler } from '../../pipelines/samplers/euler.ts';\nexport const draw = euler;\n",
  // pipelines-not-app
  'pipelines/batch/runner.ts': "import { main } from '../../app/cli/main.ts';\nexport const runner = main;\n",
  // no-cycles
  'pipelines/queue/a.ts': "import { b } from './b.ts';\nexport const a = () => b;\n",
  'pipelines/queue/b.ts': "import { a } from './a.ts';\nexport const b = () => a;\n",
};

test('check:layers names each broken rule with the importing and the imported file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'studio-layers-'));
  try {
    for (const [file, source] of Object.entries(TREE)) {
      mkdirSync(dirname(join(dir, file)), { recursive: true });
      writeFileSync(join(dir, file), source);
    }
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { allowImportingTsExtensions: true, module: 'NodeNext', noEmit: true } }));
    const cruise = run(join(ROOT, 'node_modules/.bin/depcruise'), ['app', 'pipelines', 'renderer', '--config', join(ROOT, '.dependency-cruiser.cjs'), '--output-type', 'err'], { cwd: dir });
    const out = await cruise.then(
      () => assert.fail('check:layers passed a tree that breaks every rule'),
      (e: { stdout: string }) => e.stdout,
    );
    const violations = out.split('\n').filter((l) => /^\s*error /.test(l)).map((l) => l.trim()).sort();
    assert.deepEqual(violations, [
      'error app-through-jobs: app/server/draw.ts → pipelines/samplers/euler.ts',
      'error no-cycles: pipelines/queue/a.ts →',
      'error pipelines-not-app: pipelines/batch/runner.ts → app/cli/main.ts',
      'error renderer-no-node-builtins: renderer/lib/files.ts → fs',
      'error renderer-only-jobs-api: renderer/lib/preview.ts → pipelines/jobs/run.ts',
      'error renderer-only-jobs-api: renderer/lib/preview.ts → pipelines/samplers/euler.ts',
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
