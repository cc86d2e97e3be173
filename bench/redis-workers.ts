// Images per minute of `studio batch --redis` with 1, 2 and 4 `studio worker` processes on one
// redis-server (the embedded emoji model, CPU): each worker a real process, as on a farm.
//
//   npx tsx bench/redis-workers.ts [--images 24] [--steps 8] [--workers 1,2,4]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { RedisServer } from '../test/redis-server.ts';

const { values } = parseArgs({ options: { images: { type: 'string', default: '24' }, steps: { type: 'string', default: '8' }, workers: { type: 'string', default: '1,2,4' } } });
const STUDIO = join(import.meta.dirname, '..', 'app', 'cli', 'studio.js');
const images = Number(values.images);
const counts = values.workers.split(',').map(Number);
const dir = mkdtempSync(join(tmpdir(), 'studio-bench-redis-'));
const PROMPTS = ['a smiling cat face', 'a red apple', 'a dog face', 'a yellow star', 'a green tree', 'a blue heart', 'a pizza slice', 'a sun'];

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [STUDIO, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const rows: string[] = [];
for (const n of counts) {
  const redis = await RedisServer.start();
  const workers = Array.from({ length: n }, (_, i) => spawn(process.execPath, [STUDIO, 'worker', '--redis', redis.url, '--name', `w${i}`], { cwd: dir, stdio: 'ignore' }));
  try {
    // Warm-up: every worker loads the model (one job each), so the timed batch measures steady state.
    const warm = join(dir, `warm-${n}.txt`);
    writeFileSync(warm, Array.from({ length: n * 2 }, (_, i) => `--prompt "${PROMPTS[i % PROMPTS.length]}" --seed ${900 + i}`).join('\n') + '\n');
    await run(['batch', warm, '--redis', redis.url, '--out', join(dir, `warm-${n}`), '--steps', values.steps]);
    const file = join(dir, `bench-${n}.txt`);
    writeFileSync(file, Array.from({ length: images }, (_, i) => `--prompt "${PROMPTS[i % PROMPTS.length]}" --seed ${i}`).join('\n') + '\n');
    const started = performance.now();
    const r = await run(['batch', file, '--redis', redis.url, '--out', join(dir, `out-${n}`), '--steps', values.steps, '--json']);
    const seconds = (performance.now() - started) / 1000;
    if (r.code !== 0) throw new Error(`batch with ${n} workers failed: ${r.stderr}`);
    const summary = JSON.parse(r.stdout);
    rows.push(`| ${n} | ${summary.done} | ${seconds.toFixed(1)} | ${((summary.done / seconds) * 60).toFixed(1)} |`);
    process.stderr.write(`${rows.at(-1)}\n`);
  } finally {
    for (const w of workers) w.kill('SIGKILL');
    await redis.dispose();
  }
}
rmSync(dir, { recursive: true, force: true });
process.stdout.write(`\n${availableParallelism()} CPU cores, ${images} images, ${values.steps} steps, 64x64, emoji-lit, after a warm-up job per worker\n\n| workers | images | seconds (batch command, wall) | images/min |\n| --- | --- | --- | --- |\n${rows.join('\n')}\n`);
