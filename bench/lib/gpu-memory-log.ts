// GPU memory in use over time, read the same way for every process a bench starts (ours and PyTorch's):
// nvidia-smi's device total every 50 ms with its timestamp, so each configuration's peak is the highest
// reading inside its wall-clock window minus the idle reading taken before anything started.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

export interface Sample {
  ms: number;
  mib: number;
}

export class GpuMemoryLog {
  private constructor(private readonly file: string, private readonly proc: ChildProcess) {}

  /** Undefined on a machine without nvidia-smi. */
  static start(file: string): GpuMemoryLog | undefined {
    if (spawnSync('nvidia-smi', ['-L']).status !== 0) return undefined;
    const proc = spawn('sh', ['-c', `exec nvidia-smi --query-gpu=timestamp,memory.used --format=csv,noheader,nounits -lms 50 > '${file}'`], { stdio: 'ignore' });
    return new GpuMemoryLog(file, proc);
  }

  samples(): Sample[] {
    if (!existsSync(this.file)) return [];
    return readFileSync(this.file, 'utf8').split('\n').flatMap((line) => {
      const [stamp, used] = line.split(',').map((s) => s.trim());
      const ms = new Date(stamp ?? '').getTime();
      const mib = Number(used);
      return Number.isFinite(ms) && Number.isFinite(mib) ? [{ ms, mib }] : [];
    });
  }

  /** Peak GiB above `idleMib` between two epoch-ms times; undefined when no reading fell inside. */
  peakGb(startMs: number, endMs: number, idleMib: number): number | undefined {
    const inside = this.samples().filter((s) => s.ms >= startMs && s.ms <= endMs);
    return inside.length ? (Math.max(...inside.map((s) => s.mib)) - idleMib) / 1024 : undefined;
  }

  stop(): void {
    this.proc.kill();
  }
}
