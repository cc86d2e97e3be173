"""The PyTorch side of the s6 CUDA probe: diffusers' SD 1.5 UNet2DConditionModel (random fp16 weights, SDPA, CFG batch 2)
under torch.profiler, GPU kernel time per step grouped into the op classes of ORT's profile (conv, attention, GEMM,
norm, the rest), plus ms per step without the profiler and peak allocated/reserved memory.

  python3 unet_profile_torch.py --sizes 1024,2048 [--steps 3] [--device cuda] [--linfusion DIR]
With --linfusion (LinFusion modules laid out as bench/lib/unet-tensors.ts writes them), LinFusion rows follow the
softmax rows, attn1 replaced as in gpu_matrix_torch.py.
"""
import argparse
import json
import os
import re

import torch

from sd_unet_torch import timed_ms

SD15 = dict(attention_head_dim=8, block_out_channels=[320, 640, 1280, 1280], cross_attention_dim=768,
            down_block_types=["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"], up_block_types=["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3)
CLASSES = [("attention", r"fmha|flash|attention|mem_eff|sdpa"), ("conv", r"conv|fprop|dgrad|implicit|winograd|nhwc|nchw"),
           ("GEMM", r"gemm|cutlass|cublas|nvjet|sm\d+_xmma|ampere|magma"), ("norm", r"norm"), ("copy/cast/transpose", r"copy|cast|transpose|cat|contig")]


def classify(name):
    low = name.lower()
    return next((c for c, rx in CLASSES if re.search(rx, low)), "elementwise/other")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="1024")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--device", default="cuda")
    p.add_argument("--linfusion")
    a = p.parse_args()
    from diffusers import UNet2DConditionModel
    torch.backends.cudnn.benchmark = True
    cuda = a.device == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    with torch.device(a.device):
        unet = UNet2DConditionModel(**SD15).half().eval()
    weights_gib = sum(p.numel() * p.element_size() for p in unet.parameters()) / 2**30
    variants = ["softmax"]
    lf = None
    if a.linfusion:
        from gpu_matrix_torch import set_variant
        from sd_unet_torch import UNet as FunctionalUNet, load_linfusion
        lw, lmap = load_linfusion(a.linfusion, a.device, torch.float16)
        heads = {m["module_name"]: m["heads"] for m in json.load(open(os.path.join(a.linfusion, "config.json")))["modules_list"]}
        lf = {"ref": FunctionalUNet(lw, dict(unet.config), lmap), "map": lmap, "heads": heads}
        variants.append("linfusion")
    for size, variant in ((s, v) for s in map(int, a.sizes.split(",")) for v in variants):
        if lf:
            set_variant(unet, variant, lf)
        lat = size // 8
        x = torch.randn(2, 4, lat, lat, device=a.device, dtype=torch.float16)
        t = torch.tensor([999.0, 500.0], device=a.device)
        ctx = torch.randn(2, 77, 768, device=a.device, dtype=torch.float16)
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        with torch.inference_mode():
            unet(x, t, ctx)
            times = timed_ms(lambda: unet(x, t, ctx), a.steps, sync)
            acts = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if cuda else [])
            with torch.profiler.profile(activities=acts) as prof:
                for _ in range(a.steps):
                    unet(x, t, ctx)
                sync()
        by = {}
        for e in prof.key_averages():
            us = (getattr(e, "self_device_time_total", 0) or getattr(e, "self_cuda_time_total", 0)) if cuda else e.self_cpu_time_total
            if not us or (cuda and e.device_type != torch.autograd.DeviceType.CUDA):
                continue
            c = classify(e.key)
            by[c] = by.get(c, 0) + us
        total = sum(by.values())
        times.sort()
        if cuda:
            free, capacity = torch.cuda.mem_get_info()
            mem = (f"weights {weights_gib:.2f} GiB, allocated peak {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB, reserved peak "
                   f"{torch.cuda.max_memory_reserved() / 2**30:.2f} GiB, device used now {(capacity - free) / 2**30:.2f} GiB (context + reserved)")
        else:
            mem = "–"
        classes = ", ".join(f"{c} {us / 1000 / a.steps:.1f}" for c, us in sorted(by.items(), key=lambda kv: -kv[1]))
        print(f"| {size} {variant} | {times[len(times) // 2]:.1f} | {total / 1000 / a.steps:.1f} | {classes} | {mem} |", flush=True)
        if cuda:
            def dev_us(e):
                return getattr(e, "self_device_time_total", 0) or getattr(e, "self_cuda_time_total", 0)
            top = sorted((e for e in prof.key_averages() if e.device_type == torch.autograd.DeviceType.CUDA), key=lambda e: -dev_us(e))[:8]
            names = "; ".join("%s %.1f" % (e.key[:60], dev_us(e) / 1000 / a.steps) for e in top)
            print("|  | top kernels |  | %s |  |" % names, flush=True)

if __name__ == "__main__":
    main()
