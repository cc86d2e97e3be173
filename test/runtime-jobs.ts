// Jobs the runtime tests ask an engine host to run (loaded by the host through `jobModules`).
// They use real graphs and real ORT sessions; only their sizes are chosen for tests.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { Graph } from '../pipelines/onnx/graph.ts';
import { add, cast, matmul, mul, tanh } from '../pipelines/onnx/ops.ts';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import { defineJob } from '../pipelines/host/jobs.ts';
import { tensor } from '../pipelines/runtime/session.ts';

/** y = x·k + 1 on a [1,n] input: a real session run small enough for many steps. */
export function stepGraph(n: number): Graph {
  const g = new Graph(`step-${n}`);
  const x = g.input('x', 'float32', [1, n]);
  const k = g.input('k', 'float32', [1]);
  g.output(add(mul(x, k), 1), 'y');
  return g;
}

/** `layers` × (MatMul [n,n]·[n,n] + Tanh): about 2·n³·layers FLOPs per run, enough to block a thread for a while. */
export function heavyGraph(n: number, layers: number): Graph {
  const g = new Graph(`heavy-${n}x${layers}`);
  let x = g.input('x', 'float32', [n, n]);
  const w = new Float32Array(n * n);
  let s = 12345;
  for (let i = 0; i < w.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    w[i] = (s / 2 ** 32 - 0.5) * (2 / Math.sqrt(n));
  }
  const weight = g.constant('float32', [n, n], w, 'w');
  for (let l = 0; l < layers; l++) x = tanh(matmul(x, weight));
  g.output(x, 'y');
  return g;
}

export function heavyInput(n: number): Float32Array {
  return Float32Array.from({ length: n * n }, (_, i) => Math.sin(i));
}

/**
 * A chain of MatMuls whose weights are every tensor of a safetensors file (external data). fp16 weights
 * are cast to fp32, which ORT folds at load time into fp32 copies: real anonymous memory, as with an
 * fp16 checkpoint run on the CPU (fp32 weights in the file would be mapped, not copied).
 */
export function weightsGraph(file: string): { graph: Graph; n: number } {
  const st = SafetensorsFile.open(file);
  const g = new Graph('weights');
  const names = st.keys();
  const n = st.info(names[0]).shape[0];
  let x = g.input('x', 'float32', [1, n]);
  for (const name of names) x = tanh(matmul(x, cast(g.external(st.info(name)), 'float32')));
  g.output(x, 'y');
  return { graph: g, n };
}

/** Resident anonymous memory (heap, mmap'd buffers), without mapped files and code: what released sessions give back. */
export function anonymousRss(): number {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = /RssAnon:\s+(\d+) kB/.exec(status);
  if (!kb) throw new Error('/proc/self/status has no RssAnon line (this measure needs Linux)');
  return Number(kb[1]) * 1024;
}

export const jobs = {
  'test.steps': defineJob({
    input: z.object({ steps: z.number().int().positive(), n: z.number().int().positive().default(16), pauseMs: z.number().nonnegative().default(0) }),
    run: async ({ steps, n, pauseMs }, ctx) => {
      const session = await ctx.sessions.get(stepGraph(n));
      let x: Float32Array = new Float32Array(n);
      for (let step = 0; step < steps; step++) {
        ctx.signal.throwIfAborted();
        x = (await session.run({ x: tensor(x, [1, n]), k: tensor(Float32Array.of(2), [1]) })).y.data as Float32Array;
        ctx.progress({ step: step + 1, total: steps });
        if (pauseMs) await sleep(pauseMs);
      }
      return { y0: x[0], pid: process.pid };
    },
  }),

  'test.heavy': defineJob({
    input: z.object({ n: z.number().int().positive(), layers: z.number().int().positive(), runs: z.number().int().positive() }),
    run: async ({ n, layers, runs }, ctx) => {
      const session = await ctx.sessions.get(heavyGraph(n, layers), { intraOpThreads: 1 });
      let y: Float32Array = new Float32Array(0);
      for (let r = 0; r < runs; r++) {
        ctx.signal.throwIfAborted();
        y = (await session.run({ x: tensor(heavyInput(n), [n, n]) })).y.data as Float32Array;
        ctx.progress({ step: r + 1, total: runs });
      }
      return { y };
    },
  }),

  /** Starts like a job, then dies from an uncaught exception, as a host with a bug would. */
  'test.crash': defineJob({
    input: z.object({ afterSteps: z.number().int().nonnegative() }),
    run: async ({ afterSteps }, ctx) => {
      for (let step = 0; step < afterSteps; step++) ctx.progress({ step: step + 1 });
      setTimeout(() => {
        throw new Error('simulated crash inside the engine host');
      });
      await new Promise(() => {});
    },
  }),

  /** Never reaches a step boundary, like a single session run that takes minutes. */
  'test.hang': defineJob({
    input: z.object({}),
    run: async (_input, ctx) => {
      ctx.progress({ message: 'started' });
      await new Promise(() => {});
    },
  }),

  /** Creates, runs and releases the session of a weight file `cycles` times, reporting RSS around each. */
  'test.memory': defineJob({
    input: z.object({ weights: z.string(), cycles: z.number().int().positive() }),
    run: async ({ weights, cycles }, ctx) => {
      const rss = anonymousRss;
      const out: { before: number; loaded: number; released: number }[] = [];
      for (let c = 0; c < cycles; c++) {
        const before = rss();
        const { graph, n } = weightsGraph(weights);
        const session = await ctx.sessions.get(graph, { intraOpThreads: 1 });
        await session.run({ x: tensor(new Float32Array(n).fill(0.1), [1, n]) });
        const loaded = rss();
        await ctx.sessions.release(session);
        out.push({ before, loaded, released: rss() });
      }
      return { cycles: out, mallocTrimThreshold: process.env.MALLOC_TRIM_THRESHOLD_ ?? null };
    },
  }),
};
