// Ctrl-C for long CLI commands: the first SIGINT/SIGTERM aborts between steps, a second exits at once
// (removing temp files, so nothing half-written is left). Returns the function that stops listening.
import { removePendingTempFilesSync } from '../../pipelines/queue/atomic-write.ts';
import { CancelledError, EXIT_CANCELLED } from './exit-codes.ts';

export function cancelOnSignals(controller: AbortController, note = ''): () => void {
  const onSignal = (): void => {
    if (controller.signal.aborted) {
      removePendingTempFilesSync();
      process.exit(EXIT_CANCELLED);
    }
    controller.abort(new CancelledError());
    process.stderr.write(`\nCancelling after the current step (press Ctrl-C again to stop now)${note}\n`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}
