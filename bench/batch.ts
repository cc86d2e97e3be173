// Images per minute of `studio batch` against a shell loop of `studio generate` over the same
// prompts, with a fake engine (which costs only its per-step sleep, so the gap is process start and
// engine-host start per image) and with the embedded emoji model (model loading per image too).
//
//   npx tsx bench/batch.ts [--images N] [--steps S] [--step-ms MS] [--workers W] [--no-model]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = resolve(import.meta.dirname, '..');
const STUDIO = join(ROOT, 'app', 'cli', 'studio.js');

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '8' },
    steps: { type: 'string', default: '8' },
    'step-ms': { type: 'string', default: '25' },
    workers: { type: 'string', default: String(Math.min(2, availableParallelism())) },
    'no-model': { type: 'boolean', default: false },
  },
});
const images = Number(values.images);
const steps = Number(values.steps);
const workers = Number(values.workers);

const FAKE_ENGINE = `
export async function runGenerate(request, { onProgress, signal } = {}) {
  const stepMs = Number(process.env.FAKE_STEP_MS ?? 0);
  for (let step = 1; step <= request.steps; step++) {
    if (signal?.aborted) throw signal.reason;
    await new Promise((r) => setTimeout(r, stepMs));
    onProgress?.({ phase: 'denoise', step, total: request.steps });
  }
  const width = request.width ?? 64, height = request.height ?? 64;
  const pixels = new Uint8Array(width * height * 3).fill(request.seed % 256);
  return { images: [{ width, height, pixels, seed: request.seed, batchIndex: 0 }], model: { name: 'fake' }, ep: 'cpu', timings: {} };
}
`;

const work = mkdtempSync(join(tmpdir(), 'studio-bench-batch-'));
const prompts = join(work, 'prompts.txt');
const SUBJECTS = ['a snake', 'a cookie', 'a red apple', 'a rocket', 'a cat face', 'a sun', 'a tree', 'a house', 'a fish', 'a star', 'a moon', 'a car'];
writeFileSync(prompts, Array.from({ length: images }, (_, i) => `${SUBJECTS[i % SUBJECTS.length]}, noto style`).join('\n'));
const fake = join(work, 'fake-engine.mjs');
writeFileSync(fake, FAKE_ENGINE);

interface Row {
  engine: string;
  method: string;
  images: number;
  seconds: number;
}

function timed(engine: string, method: string, out: string, command: string, args: string[], env: NodeJS.ProcessEnv): Row {
  const start = performance.now();
  const r = spawnSync(command, args, { cwd: work, env, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const seconds = (performance.now() - start) / 1000;
  if (r.status !== 0) throw new Error(`${engine} ${method} failed (${r.status}): ${r.stderr.slice(-600)}`);
  const made = readdirSync(join(work, out)).filter((f) => f.endsWith('.png') && !f.startsWith('grid-')).length;
  return { engine, method, images: made, seconds };
}

function compare(engine: string, env: NodeJS.ProcessEnv): Row[] {
  const tag = engine.replace(/\W+/g, '-');
  const studio = `"${process.execPath}" "${STUDIO}"`;
  const loop = `while IFS= read -r p || [ -n "$p" ]; do ${studio} generate --prompt "$p" --steps ${steps} --seed 1 --out loop-${tag} || exit 1; done < prompts.txt`;
  const rows = [
    timed(engine, 'shell loop of generate', `loop-${tag}`, 'sh', ['-c', loop], env),
    timed(engine, 'batch', `batch-${tag}`, process.execPath, [STUDIO, 'batch', 'prompts.txt', '--steps', String(steps), '--seed', '1', '--out', `batch-${tag}`], env),
  ];
  if (workers > 1) {
    rows.push(timed(engine, `batch --workers ${workers}`, `batch${workers}-${tag}`, process.execPath, [STUDIO, 'batch', 'prompts.txt', '--steps', String(steps), '--seed', '1', '--workers', String(workers), '--out', `batch${workers}-${tag}`], env));
  }
  return rows;
}

const base: NodeJS.ProcessEnv = { ...process.env };
delete base.STUDIO_TEST_ENGINE;
const rows: Row[] = [];
try {
  rows.push(...compare(`fake engine (${values['step-ms']} ms/step)`, { ...base, STUDIO_TEST_ENGINE: fake, FAKE_STEP_MS: values['step-ms'] }));
  if (!values['no-model']) {
    const probe = spawnSync(process.execPath, [STUDIO, 'generate', '--prompt', 'a snake', '--steps', '1', '--out', 'probe.png'], { cwd: work, env: base, encoding: 'utf8' });
    if (probe.status === 0) rows.push(...compare('embedded emoji model', base));
    else console.log(`embedded model: not available (${probe.stderr.trim().split('\n').pop()})`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

console.log(`\n${images} prompts, ${steps} steps, ${cpus()[0]?.model ?? 'CPU'} × ${availableParallelism()}, Node ${process.version}\n`);
console.log('| engine | method | images | seconds | images/min |');
console.log('| --- | --- | ---: | ---: | ---: |');
for (const r of rows) console.log(`| ${r.engine} | ${r.method} | ${r.images} | ${r.seconds.toFixed(1)} | ${((r.images / r.seconds) * 60).toFixed(1)} |`);
