// The CLI's one way into the engine. Generation runs in an engine host in a child process (ORT's
// create/run calls block for seconds, and the progress bar and Ctrl-C must stay live), through the
// same job module as the studio server. Not a worker thread: onnxruntime-node, loaded in a worker,
// overflows the worker's stack when this process's command line is long (a ~15k-character prompt
// crashed with SIGSEGV), and a second Ctrl-C cannot stop a worker inside a native call cleanly. A
// child's command line is short, a crash in it is reported, and killing it is always clean.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { EngineClient, JobFailedError } from '../../pipelines/host/client.ts';
import { processHost } from '../../pipelines/host/launchers.ts';
import { BadRequestError, type GenerateOptions, type GenerateRequest, type GenerateResult } from '../../pipelines/recipes/request.ts';
import type { StudioJobs } from '../server/engine-jobs.ts';

export type RunGenerate = (request: GenerateRequest, options: GenerateOptions) => Promise<GenerateResult>;

/**
 * Tests of the CLI process point this at a module exporting a fake `runGenerate` (tiny gradient
 * images), so the command line can be tested without model weights. Not for normal use.
 */
export const TEST_ENGINE_ENV = 'STUDIO_TEST_ENGINE';

const JOB_MODULE = new URL(import.meta.url.endsWith('.ts') ? '../server/engine-jobs.ts' : '../server/engine-jobs.js', import.meta.url);

/** Errors about what the user asked for (exit code 2), as the host names them. */
const REQUEST_ERRORS = new Set(['BadRequestError', 'PromptError']);

export async function loadEngine(): Promise<RunGenerate> {
  const override = process.env[TEST_ENGINE_ENV];
  if (override) {
    const mod: { runGenerate?: unknown } = await import(pathToFileURL(resolve(override)).href);
    if (typeof mod.runGenerate !== 'function') throw new Error(`${override} does not export a runGenerate function`);
    return mod.runGenerate as RunGenerate;
  }
  return async (request, { signal, onProgress }) => {
    const client = new EngineClient<StudioJobs>({ host: processHost(), jobModules: [JOB_MODULE] });
    try {
      return await client.run('studio.generate', { request, heads: [] }, {
        signal,
        onProgress: (p) => onProgress?.({ phase: p.message ?? 'denoise', step: p.step ?? 0, total: p.total ?? 0 }),
      });
    } catch (e) {
      // The host sends errors as data; bad requests keep their meaning (exit code 2).
      if (e instanceof JobFailedError && REQUEST_ERRORS.has(e.remote.name)) throw new BadRequestError(e.remote.message);
      throw e;
    } finally {
      await client.close();
    }
  };
}
