// Entry of the inspector's worker thread: one task per message, answered with its result or its error.
import { parentPort } from 'node:worker_threads';
import { runInspectTask, type InspectTask } from './inspect-tasks.ts';

const port = parentPort!;
port.on('message', async ({ id, task }: { id: number; task: InspectTask }) => {
  try {
    port.postMessage({ id, ok: true, value: await runInspectTask(task) });
  } catch (e) {
    const err = e as Error;
    port.postMessage({ id, ok: false, name: err?.name ?? 'Error', message: err?.message ?? String(e) });
  }
});
