// The batch's engine hosts: each a worker-thread host running the studio's job module (the same one
// `studio generate` and the app use), so the model is loaded once per host and kept warm for every
// image of the batch. Several hosts run images side by side.
import type { StudioJobs } from '../../app/server/engine-jobs.ts';
import { EngineClient, JobFailedError } from '../host/client.ts';
import { workerHost } from '../host/launchers.ts';
import { BadRequestError, type GenerateProgress, type GenerateRequest, type GenerateResult } from '../recipes/request.ts';

const JOB_MODULE = new URL(import.meta.url.endsWith('.ts') ? '../../app/server/engine-jobs.ts' : '../../app/server/engine-jobs.js', import.meta.url);

export interface BatchEngine {
  run(request: GenerateRequest, o: { signal: AbortSignal; onProgress?: (p: GenerateProgress) => void }): Promise<GenerateResult>;
  close(): Promise<void>;
}

export function engineHost(): BatchEngine {
  const client = new EngineClient<StudioJobs>({ host: workerHost(), jobModules: [JOB_MODULE] });
  return {
    async run(request, { signal, onProgress }) {
      try {
        const result = await client.run('studio.generate', { request, heads: [] }, {
          signal,
          onProgress: (p) => onProgress?.({ phase: p.message ?? 'denoise', step: p.step ?? 0, total: p.total ?? 0 }),
        });
        return result as GenerateResult;
      } catch (e) {
        // The host sends errors as data; a bad request keeps its meaning.
        if (e instanceof JobFailedError) throw e.remote.name === 'BadRequestError' ? new BadRequestError(e.remote.message) : new Error(e.remote.message);
        throw e;
      }
    },
    close: () => client.close(),
  };
}
