// The hi-res ladder's stage timeline of the running (or last) job, from its progress events: each stage's size,
// strength, the step it reached and how long it took (measured here, from the events' arrival).
import type { JobProgress } from '../../pipelines/jobs/api-studio.ts';

export interface StageRow {
  index: number;
  width: number;
  height: number;
  strength?: number;
  phase: string;
  step: number;
  total: number;
  startedAt: number;
  endedAt?: number;
}

export class StageTimeline {
  jobId = $state<string | undefined>(undefined);
  count = $state(0);
  stages = $state<StageRow[]>([]);

  /** A progress event: opens a stage when the job reaches it, closing the one before. */
  update(jobId: string, p: JobProgress, now = performance.now()): void {
    const s = p.stage;
    if (!s) return;
    if (jobId !== this.jobId) {
      this.jobId = jobId;
      this.stages = [];
    }
    this.count = s.count;
    let row = this.stages.find((r) => r.index === s.index);
    if (!row) {
      for (const open of this.stages) open.endedAt ??= now;
      row = { index: s.index, width: s.width, height: s.height, strength: s.strength, phase: p.phase, step: 0, total: 0, startedAt: now };
      this.stages.push(row);
      row = this.stages[this.stages.length - 1];
    }
    // 'stage' events hand out a finished stage's image: they count stages, not this stage's steps.
    if (p.phase !== 'stage') Object.assign(row, { phase: p.phase, step: p.step, total: p.total });
  }

  /** The job ended (done, failed or cancelled): its last stage stops its clock. */
  finish(jobId: string, now = performance.now()): void {
    if (jobId !== this.jobId) return;
    for (const open of this.stages) open.endedAt ??= now;
  }
}
