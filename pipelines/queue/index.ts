// The persistent job queue shared by the app and `studio batch` (see queue.ts for the guarantees).
export { PersistentQueue, QueueStateError, JOURNAL_FILE, LOCK_FILE, MAX_STARTS, type AddItem, type AddOutcome, type QueueOptions } from './queue.ts';
export type { HistoryEntry, JobOutput, JobStatus, QueueJob } from './state.ts';
export { QueueLockedError } from './lock.ts';
export { PersistentJobQueue, type AppJobExecutor, type AppJobRun, type AppJobSpec, type AppJobView } from './app-queue.ts';
