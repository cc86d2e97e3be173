// How a long command shows its progress on stderr: a bar redrawn in place (for a terminal), one line
// per step (for logs, pipes and scripts that wait on a phase), or nothing. `--progress` picks one;
// the default is the bar on a terminal and lines otherwise.
import type { GenerateProgress } from '../../pipelines/jobs/api.ts';
import { ProgressBar } from './progress-bar.ts';

export const PROGRESS_MODES = ['lines', 'bar', 'none'] as const;
export type ProgressMode = (typeof PROGRESS_MODES)[number];

export interface ProgressReport {
  update(p: GenerateProgress): void;
  /** Called when a phase ends (the bar clears its line). */
  done(): void;
}

/**
 * `denoise 3/20`, one line each time the phase changes or the step reaches the next whole percent, so
 * a 20-step run prints every step and hashing a 2 GiB file (counted in MiB) about 100 lines.
 */
export class ProgressLines implements ProgressReport {
  private phase = '';
  private percent = -1;

  constructor(private readonly stream: NodeJS.WritableStream) {}

  update(p: GenerateProgress): void {
    const total = Math.max(1, p.total);
    const percent = Math.floor((100 * Math.min(Math.max(0, p.step), total)) / total);
    if (p.phase === this.phase && percent === this.percent) return;
    this.phase = p.phase;
    this.percent = percent;
    this.stream.write(`${p.phase} ${p.step}/${p.total}\n`);
  }

  done(): void {}
}

/** The reporter for `--progress MODE` on stderr; `undefined` (no flag): bar on a terminal, else lines. */
export function progressOnStderr(mode: ProgressMode | undefined): ProgressReport | undefined {
  const chosen = mode ?? (process.stderr.isTTY ? 'bar' : 'lines');
  if (chosen === 'none') return undefined;
  return chosen === 'bar' ? new ProgressBar(process.stderr) : new ProgressLines(process.stderr);
}
