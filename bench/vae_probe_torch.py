# PyTorch's side of bench/vae-probe.ts: diffusers' AutoencoderKL (SD's VAE config) on the same random weights file,
# one tile's decode and encode per size and dtype (warm ms, median), torch's peak allocation, whether the output
# is finite, and torch.profiler's per-op CUDA time for the fp16 tiles: what the studio's per-op profile compares to.
#   PYTHONPATH=<diffusers>/src python3 bench/vae_probe_torch.py --weights /tmp/vae-probe/vae.safetensors --tiles 1024,2048
import argparse, statistics, time
import torch
from sd_vae_torch import sd_vae

p = argparse.ArgumentParser()
p.add_argument('--weights', required=True)
p.add_argument('--tiles', default='1024,2048')
p.add_argument('--dtypes', default='float16,float32')
p.add_argument('--runs', type=int, default=3)
p.add_argument('--profile-tile', type=int, default=1024)
a = p.parse_args()


def timed(f):
    torch.cuda.synchronize(); t0 = time.perf_counter(); f(); torch.cuda.synchronize()
    return (time.perf_counter() - t0) * 1000


def profile_line(f):
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        f(); torch.cuda.synchronize()
    rows = sorted(prof.key_averages(), key=lambda e: -e.device_time_total)
    total = sum(e.self_device_time_total for e in rows) / 1000
    top = ', '.join(f'{e.key[:40]} {e.self_device_time_total / 1000:.1f}' for e in sorted(rows, key=lambda e: -e.self_device_time_total)[:8])
    return f'total {total:.1f}; {top}'


print('| part | tile | dtype | warm ms (median) | torch peak allocated GiB | non-finite | torch.profiler (self CUDA ms per run) |')
print('| --- | ---: | --- | ---: | ---: | ---: | --- |')
for name in a.dtypes.split(','):
    dt = getattr(torch, name)
    vae = sd_vae(a.weights, dt)
    for tile in map(int, a.tiles.split(',')):
        g = torch.Generator().manual_seed(5)
        z = ((torch.rand(1, 4, tile // 8, tile // 8, generator=g) * 3 - 1.5) / 0.18215).to('cuda', dt)
        x = (torch.rand(1, 3, tile, tile, generator=g) * 2 - 1).to('cuda', dt)
        for part, f in (('decode', lambda: vae.decode(z).sample), ('encode', lambda: vae.encode(x).latent_dist.mean)):
            torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
            with torch.no_grad():
                out = f(); torch.cuda.synchronize()
                ms = statistics.median(timed(f) for _ in range(a.runs))
                prof = profile_line(f) if name == 'float16' and tile == a.profile_tile else '–'
            bad = int((~torch.isfinite(out)).sum())
            print(f'| {part} | {tile}² | {name} | {ms:.1f} | {torch.cuda.max_memory_allocated() / 2**30:.2f} | {bad} | {prof} |', flush=True)
            del out
    del vae
    torch.cuda.empty_cache()
