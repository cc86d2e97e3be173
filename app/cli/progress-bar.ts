// A one-line progress bar on stderr, redrawn in place; drawn only when stderr is a terminal.
import type { GenerateProgress } from '../../pipelines/jobs/api.ts';

const REDRAW_MS = 100;

function seconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  return s >= 60 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.round(s)}s`;
}

/**
 * `denoise  [#######---------] 7/20  1.52 it/s  ETA 9s`, fitted to `columns`; the rate counts the
 * steps after `fromStep`, the step at which `elapsedMs` started.
 */
export function formatProgress(p: GenerateProgress, elapsedMs: number, columns: number, fromStep = 0): string {
  const total = Math.max(1, p.total);
  const step = Math.min(Math.max(0, p.step), total);
  const rate = elapsedMs > 0 ? (step - fromStep) / (elapsedMs / 1000) : 0;
  const eta = rate > 0 ? (total - step) / rate : Number.NaN;
  const tail = ` ${step}/${total}  ${rate >= 1 ? rate.toFixed(2) + ' it/s' : rate > 0 ? (1 / rate).toFixed(2) + ' s/it' : ''}  ETA ${seconds(eta)}`;
  const head = `${p.phase.padEnd(8)} `;
  const barWidth = Math.max(10, Math.min(40, columns - head.length - tail.length - 3));
  const filled = Math.round((barWidth * step) / total);
  return `${head}[${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}]${tail}`.slice(0, Math.max(1, columns - 1));
}

export class ProgressBar {
  private phase = '';
  private phaseStart = 0;
  private phaseStartStep = 0;
  private lastDraw = 0;
  private drawn = false;

  constructor(private readonly stream: NodeJS.WriteStream) {}

  static forStderr(): ProgressBar | undefined {
    return process.stderr.isTTY ? new ProgressBar(process.stderr) : undefined;
  }

  update(p: GenerateProgress): void {
    const now = performance.now();
    if (p.phase !== this.phase) {
      this.phase = p.phase;
      this.phaseStart = now;
      this.phaseStartStep = p.step;
    } else if (now - this.lastDraw < REDRAW_MS && p.step < p.total) {
      return;
    }
    this.lastDraw = now;
    this.drawn = true;
    this.stream.write(`\r${formatProgress(p, now - this.phaseStart, this.stream.columns || 80, this.phaseStartStep)}\x1b[K`);
  }

  /** Clears the bar's line. */
  done(): void {
    if (this.drawn) this.stream.write('\r\x1b[K');
    this.drawn = false;
  }
}
