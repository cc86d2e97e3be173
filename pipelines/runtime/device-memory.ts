// How much memory a provider can use: the host's for the CPU, the GPU's (nvidia-smi) for GPU providers on
// NVIDIA machines; undefined where it cannot be told (the memory plan then estimates without refusing).
import { spawnSync } from 'node:child_process';
import { totalmem } from 'node:os';

export function deviceMemoryBytes(provider: string): number | undefined {
  if (provider === 'cpu') return totalmem();
  const smi = spawnSync('nvidia-smi', ['--query-gpu=memory.total', '--format=csv,noheader,nounits'], { encoding: 'utf8', timeout: 5000 });
  const mib = smi.status === 0 ? Number(smi.stdout.trim().split('\n')[0]) : NaN;
  return Number.isFinite(mib) && mib > 0 ? mib * 2 ** 20 : undefined;
}
