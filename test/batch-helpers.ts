// Shared by the batch tests: runs the real `studio` process with a fake engine module (named by
// STUDIO_TEST_ENGINE and loaded inside the real engine hosts) that draws images from the seed, sleeps
// FAKE_STEP_MS per step, and logs every request it runs, with the engine thread's id, to FAKE_LOG.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..');
const STUDIO = join(ROOT, 'app', 'cli', 'studio.js');

const FAKE_ENGINE = `
import { appendFileSync } from 'node:fs';
import { threadId } from 'node:worker_threads';
export async function runGenerate(request, { onProgress, signal } = {}) {
  const stepMs = Number(process.env.FAKE_STEP_MS ?? 0);
  for (let step = 1; step <= request.steps; step++) {
    if (signal?.aborted) throw signal.reason;
    if (stepMs) await new Promise((r) => setTimeout(r, stepMs));
    onProgress?.({ phase: 'denoise', step, total: request.steps });
  }
  if (process.env.FAKE_LOG) appendFileSync(process.env.FAKE_LOG, JSON.stringify({ thread: threadId, request }) + '\\n');
  const width = request.width ?? 64, height = request.height ?? 64;
  const images = [];
  for (let b = 0; b < request.batch; b++) {
    const pixels = new Uint8Array(width * height * 3);
    const hue = (request.seed * 53 + Math.round(request.cfg * 17) + b * 40) % 256;
    for (let i = 0; i < width * height; i++) {
      pixels[i * 3] = hue;
      pixels[i * 3 + 1] = (i % width) * 2;
      pixels[i * 3 + 2] = 255 - hue;
    }
    images.push({ width, height, pixels, seed: request.seed, batchIndex: b });
  }
  return { images, model: { name: 'fake-model' }, ep: 'cpu', timings: {} };
}
`;

/** Writes the fake engine into `dir`; returns its path. */
export function writeFakeEngine(dir: string): string {
  const path = join(dir, 'fake-engine.mjs');
  writeFileSync(path, FAKE_ENGINE);
  return path;
}

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `studio ARGS` in `cwd`; `watch` sees the output so far and may kill the process. */
export function studio(
  args: string[],
  o: { cwd: string; env?: Record<string, string>; watch?: (out: { stdout: string; stderr: string }, child: ChildProcess) => void },
): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [STUDIO, ...args], { cwd: o.cwd, env: { ...process.env, ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = { stdout: '', stderr: '' };
    child.stdout.on('data', (d: Buffer) => {
      out.stdout += d;
      o.watch?.(out, child);
    });
    child.stderr.on('data', (d: Buffer) => {
      out.stderr += d;
      o.watch?.(out, child);
    });
    child.on('error', fail);
    child.on('close', (code, signal) => done({ code, signal, ...out }));
  });
}
