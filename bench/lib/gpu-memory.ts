// GPU memory while a child process runs: nvidia-smi's used memory sampled every 100 ms, reported as the
// peak above the first sample (GiB). Undefined where there is no NVIDIA GPU or the provider is the CPU.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';

export function startGpuMemorySampler(file: string, enabled: boolean): { stop(): number | undefined } | undefined {
  if (!enabled || spawnSync('nvidia-smi', ['-L']).status !== 0) return undefined;
  rmSync(file, { force: true });
  const sh = spawn('sh', ['-c', `exec nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > '${file}'`], { stdio: 'ignore' });
  return {
    stop() {
      sh.kill();
      const mib = existsSync(file) ? readFileSync(file, 'utf8').split('\n').map(Number).filter((v) => Number.isFinite(v) && v > 0) : [];
      return mib.length > 1 ? (Math.max(...mib) - mib[0]) / 1024 : undefined;
    },
  };
}
