// The CLI's one way into the engine: jobs run in an engine host in a child process (ORT's create/run
// calls block for seconds, and the progress bar and Ctrl-C must stay live), through the same job
// module as the studio server. Not a worker thread: onnxruntime-node, loaded in a worker, overflows
// the worker's stack when this process's command line is long (a ~15k-character prompt crashed with
// SIGSEGV), and a second Ctrl-C cannot stop a worker inside a native call cleanly. A child's command
// line is short, a crash in it is reported, and killing it is always clean.
import { processHost } from '../../pipelines/host/launchers.ts';
import { EngineJobs } from '../../pipelines/jobs/client.ts';

/** Runs `use` with an engine host that is closed afterwards, whatever happens. */
export async function withEngine<T>(use: (engine: EngineJobs) => Promise<T>): Promise<T> {
  const engine = new EngineJobs({ host: processHost() });
  try {
    return await use(engine);
  } finally {
    await engine.close();
  }
}
