# PyTorch's side of bench/vae-decode.ts: diffusers' AutoencoderKL (SD's VAE config) with the same random weights
# file, decode in fp16 and fp32 at the given sizes: warm ms per decode (median), torch's peak allocation and
# nvidia-smi's peak above the reading before CUDA started (so the CUDA context counts, as on the ORT side).
#   PYTHONPATH=<diffusers>/src python3 bench/vae_decode_torch.py --weights /tmp/vae/vae.safetensors --sizes 512,1024
import argparse, statistics, subprocess, threading, time
import torch
from sd_vae_torch import sd_vae

p = argparse.ArgumentParser()
p.add_argument('--weights', required=True)
p.add_argument('--sizes', default='512,1024')
p.add_argument('--dtypes', default='float16,float32')
p.add_argument('--runs', type=int, default=3)
a = p.parse_args()


def smi_mib():
    try:
        return float(subprocess.run(['nvidia-smi', '--query-gpu=memory.used', '--format=csv,noheader,nounits'], capture_output=True, text=True).stdout.split()[0])
    except Exception:
        return float('nan')


class Peak:
    def __init__(self):
        self.peak, self.stop = 0.0, False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop:
            self.peak = max(self.peak, smi_mib())
            time.sleep(0.05)


start = smi_mib()
print('| size | dtype | warm ms (median) | torch peak allocated GiB | nvidia-smi GiB above start | non-finite |')
print('| ---: | --- | ---: | ---: | ---: | --- |')
for name in a.dtypes.split(','):
    dt = getattr(torch, name)
    vae = sd_vae(a.weights, dt)
    for size in map(int, a.sizes.split(',')):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        g = torch.Generator().manual_seed(5)
        z = ((torch.rand(1, 4, size // 8, size // 8, generator=g) * 3 - 1.5) / 0.18215).to('cuda', dt)
        peak = Peak()
        with torch.no_grad():
            out = vae.decode(z).sample
            torch.cuda.synchronize()
            times = []
            for _ in range(a.runs):
                t0 = time.perf_counter(); vae.decode(z); torch.cuda.synchronize(); times.append((time.perf_counter() - t0) * 1000)
        peak.stop = True; peak.t.join()
        bad = int((~torch.isfinite(out)).sum())
        print(f'| {size}² | {name} | {statistics.median(times):.1f} | {torch.cuda.max_memory_allocated() / 2**30:.2f} | {(peak.peak - start) / 1024:.2f} | {bad} |', flush=True)
    del vae
