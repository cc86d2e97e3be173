// The CLI's one way into the engine. Generation runs in an engine host on a worker thread (ORT's
// create/run calls block for seconds, and the progress bar and Ctrl-C must stay live), through the
// same job module as the studio server.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { EngineClient, JobFailedError } from '../../pipelines/host/client.ts';
import { workerHost } from '../../pipelines/host/launchers.ts';
import { BadRequestError, type GenerateOptions, type GenerateRequest, type GenerateResult } from '../../pipelines/recipes/request.ts';
import type { StudioJobs } from '../server/engine-jobs.ts';

export type RunGenerate = (request: GenerateRequest, options: GenerateOptions) => Promise<GenerateResult>;

/**
 * Tests of the CLI process point this at a module exporting a fake `runGenerate` (tiny gradient
 * images), so the command line can be tested without model weights. Not for normal use.
 */
export const TEST_ENGINE_ENV = 'STUDIO_TEST_ENGINE';

const JOB_MODULE = new URL(import.meta.url.endsWith('.ts') ? '../server/engine-jobs.ts' : '../server/engine-jobs.js', import.meta.url);

export async function loadEngine(): Promise<RunGenerate> {
  const override = process.env[TEST_ENGINE_ENV];
  if (override) {
    const mod: { runGenerate?: unknown } = await import(pathToFileURL(resolve(override)).href);
    if (typeof mod.runGenerate !== 'function') throw new Error(`${override} does not export a runGenerate function`);
    return mod.runGenerate as RunGenerate;
  }
  return async (request, { signal, onProgress }) => {
    const client = new EngineClient<StudioJobs>({ host: workerHost(), jobModules: [JOB_MODULE] });
    try {
      return await client.run('studio.generate', { request, heads: [] }, {
        signal,
        onProgress: (p) => onProgress?.({ phase: p.message ?? 'denoise', step: p.step ?? 0, total: p.total ?? 0 }),
      });
    } catch (e) {
      // The host sends errors as data; bad requests keep their meaning (exit code 2).
      if (e instanceof JobFailedError && e.remote.name === 'BadRequestError') throw new BadRequestError(e.remote.message);
      throw e;
    } finally {
      await client.close();
    }
  };
}
