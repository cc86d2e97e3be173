// The CLI's one way into the engine: jobs run in an engine host on a worker thread (ORT's create/run
// calls block for seconds, and the progress bar and Ctrl-C must stay live), through the same job
// module as the studio server.
import { workerHost } from '../../pipelines/host/launchers.ts';
import { EngineJobs } from '../../pipelines/jobs/client.ts';

/** Runs `use` with an engine host that is closed afterwards, whatever happens. */
export async function withEngine<T>(use: (engine: EngineJobs) => Promise<T>): Promise<T> {
  const engine = new EngineJobs({ host: workerHost() });
  try {
    return await use(engine);
  } finally {
    await engine.close();
  }
}
