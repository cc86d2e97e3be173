// The batch's engine hosts: each a worker-thread host running the jobs module (the same one
// `studio generate` and the app use), so the model is loaded once per host and kept warm for every
// image of the batch. Several hosts run images side by side.
import { workerHost } from '../../host/launchers.ts';
import { EngineJobs } from '../client.ts';
import type { GenerateProgress, GenerateRequest, GenerateResult } from '../api.ts';

export interface BatchEngine {
  run(request: GenerateRequest, o: { signal: AbortSignal; onProgress?: (p: GenerateProgress) => void }): Promise<GenerateResult>;
  close(): Promise<void>;
}

export function engineHost(): BatchEngine {
  const engine = new EngineJobs({ host: workerHost() });
  return {
    // Batches show no pictures while they run: the engine draws no previews.
    run: (request, { signal, onProgress }) => engine.submit({ kind: 'generate', request, previews: { every: 0 } }, { signal, progress: onProgress }),
    close: () => engine.close(),
  };
}
