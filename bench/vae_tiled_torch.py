# PyTorch's side of bench/vae-probe.ts --part tiled: diffusers' AutoencoderKL (SD's VAE config, fp16) on the same
# random weights file, tiled as LinFusion's ladder tiles it (enable_tiling, 2048 px tiles, diffusers' quarter
# overlap): a random image's encode (posterior sample) and its latents' decode per size, CUDA synchronised, with
# torch's peak allocation.
#   PYTHONPATH=<diffusers>/src python3 bench/vae_tiled_torch.py --weights vae.safetensors --sizes 16384x8192
import argparse, time
import torch
from sd_vae_torch import sd_vae

p = argparse.ArgumentParser()
p.add_argument('--weights', required=True)
p.add_argument('--sizes', default='4096x4096,8192x4096,16384x8192')
p.add_argument('--tile', type=int, default=2048)
p.add_argument('--deadline-s', type=float, default=100, help='start no size after this many seconds')
a = p.parse_args()
t_start = time.time()

vae = sd_vae(a.weights, torch.float16)
vae.enable_tiling()
vae.tile_sample_min_size = a.tile
vae.tile_latent_min_size = a.tile // 8

print(f'| image | tile | encode s | decode s | VAE s | torch peak allocated GiB | non-finite |')
print('| --- | ---: | ---: | ---: | ---: | ---: | ---: |')
for size in a.sizes.split(','):
    w, h = map(int, size.split('x'))
    if time.time() - t_start > a.deadline_s:
        print(f'| {w}×{h} | {a.tile} | skipped: the {a.deadline_s:.0f} s deadline passed | | | | |'); continue
    torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
    g = torch.Generator('cuda').manual_seed(11)
    x = torch.rand(1, 3, h, w, device='cuda', dtype=torch.float16, generator=g) * 2 - 1
    with torch.no_grad():
        torch.cuda.synchronize(); t0 = time.perf_counter()
        z = vae.encode(x).latent_dist.sample(generator=g) * vae.config.scaling_factor
        torch.cuda.synchronize(); t1 = time.perf_counter()
        out = vae.decode(z / vae.config.scaling_factor).sample
        torch.cuda.synchronize(); t2 = time.perf_counter()
    bad = int((~torch.isfinite(out)).sum())
    print(f'| {w}×{h} | {a.tile} | {t1 - t0:.2f} | {t2 - t1:.2f} | {t2 - t0:.2f} | {torch.cuda.max_memory_allocated() / 2**30:.2f} | {bad} |', flush=True)
    del x, z, out
