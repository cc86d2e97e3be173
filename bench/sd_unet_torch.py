"""The SD 1.x UNet (and LinFusion on its self-attention) in plain PyTorch, timed beside bench/sd-unet.ts.

diffusers is not installed on the GPU machine, so this is a functional re-statement of diffusers'
UNet2DConditionModel forward (conv projections, GEGLU, attention through scaled_dot_product_attention, as
diffusers' AttnProcessor2_0 calls it) reading the same diffusers-named safetensors that bench/sd-unet.ts
wrote. AgentSD is not implemented here. `--check-fixtures DIR` checks this code against the sd15-tiny
golden outputs of diffusers itself before any timing is trusted.

Timing mode prints one JSON line: {"device", "torch", "results": [{variant, size, median_ms, min_ms,
steps, peak_gb, load_s}]} and writes each configuration's output to OUT/torch-VARIANT-SIZE.safetensors.
"""
import argparse
import json
import math
import os
import time

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file


class UNet:
    def __init__(self, w, cfg, linfusion=None):
        self.w = w
        self.ch = cfg["block_out_channels"]
        self.heads = cfg.get("attention_head_dim", 8)
        self.layers = cfg.get("layers_per_block", 2)
        self.down_types = cfg["down_block_types"]
        self.up_types = cfg["up_block_types"]
        self.groups = cfg.get("norm_num_groups", 32)
        self.eps = cfg.get("norm_eps", 1e-5)
        # LinFusion: {attn1 module name: (prefix in its file, heads)}
        self.linfusion = linfusion or {}

    def lin(self, name, x):
        return F.linear(x, self.w[name + ".weight"], self.w.get(name + ".bias"))

    def conv(self, name, x, stride=1):
        weight = self.w[name + ".weight"]
        return F.conv2d(x, weight, self.w[name + ".bias"], stride=stride, padding=weight.shape[-1] // 2)

    def gn(self, name, x, eps):
        return F.group_norm(x, self.groups, self.w[name + ".weight"], self.w[name + ".bias"], eps)

    def ln(self, name, x, eps=1e-5):
        return F.layer_norm(x, x.shape[-1:], self.w[name + ".weight"], self.w[name + ".bias"], eps)

    def resnet(self, name, x, temb):
        h = self.conv(name + ".conv1", F.silu(self.gn(name + ".norm1", x, self.eps)))
        h = h + self.lin(name + ".time_emb_proj", F.silu(temb))[:, :, None, None]
        h = self.conv(name + ".conv2", F.silu(self.gn(name + ".norm2", h, self.eps)))
        if name + ".conv_shortcut.weight" in self.w:
            x = self.conv(name + ".conv_shortcut", x)
        return x + h

    def sdpa(self, q, k, v, heads):
        b, n, c = q.shape
        split = lambda t: t.view(b, -1, heads, c // heads).transpose(1, 2)
        return F.scaled_dot_product_attention(split(q), split(k), split(v)).transpose(1, 2).reshape(b, n, c)

    def self_attention(self, name, x, heads):
        if name in self.linfusion:
            return self.linfusion_attention(self.linfusion[name], x, heads)
        q, k, v = (self.lin(f"{name}.{p}", x) for p in ("to_q", "to_k", "to_v"))
        return self.lin(name + ".to_out.0", self.sdpa(q, k, v, heads))

    def linfusion_attention(self, p, x, heads):
        def mlp(prefix, t):
            h = F.leaky_relu(self.ln(prefix + ".1", self.lin(prefix + ".0", t)), 0.01)
            return t + self.lin(prefix + ".3", h)

        b, n, c = x.shape
        q = self.lin(p + ".to_q", mlp(p + ".to_q_", x))
        k = self.lin(p + ".to_k", mlp(p + ".to_k_", x))
        v = self.lin(p + ".to_v", x)
        per_head = lambda t: t.float().view(b, n, heads, c // heads).transpose(1, 2)
        qf, kf = F.elu(per_head(q)) + 1, F.elu(per_head(k)) + 1
        z = qf @ kf.mean(dim=2, keepdim=True).transpose(-1, -2) + 1e-4
        state = (kf.transpose(-1, -2) / math.sqrt(n)) @ (per_head(v) / math.sqrt(n))
        o = ((qf @ state) / z).transpose(1, 2).reshape(b, n, c).to(x.dtype)
        return self.lin(p + ".to_out.0", o)

    def transformer(self, name, x, text, heads):
        b, c, hh, ww = x.shape
        h = self.conv(name + ".proj_in", self.gn(name + ".norm", x, 1e-6))
        h = h.permute(0, 2, 3, 1).reshape(b, hh * ww, c)
        blk = name + ".transformer_blocks.0"
        h = h + self.self_attention(blk + ".attn1", self.ln(blk + ".norm1", h), heads)
        t = self.ln(blk + ".norm2", h)
        cross = self.sdpa(self.lin(blk + ".attn2.to_q", t), self.lin(blk + ".attn2.to_k", text), self.lin(blk + ".attn2.to_v", text), heads)
        h = h + self.lin(blk + ".attn2.to_out.0", cross)
        hidden, gate = self.lin(blk + ".ff.net.0.proj", self.ln(blk + ".norm3", h)).chunk(2, dim=-1)
        h = h + self.lin(blk + ".ff.net.2", hidden * F.gelu(gate))
        h = h.reshape(b, hh, ww, c).permute(0, 3, 1, 2)
        return self.conv(name + ".proj_out", h) + x

    def time_embedding(self, t, dtype):
        half = self.ch[0] // 2
        freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
        angles = t.float()[:, None] * freqs[None]
        emb = torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1).to(dtype)  # flip_sin_to_cos
        return self.lin("time_embedding.linear_2", F.silu(self.lin("time_embedding.linear_1", emb)))

    def __call__(self, sample, t, text):
        dtype = self.w["conv_in.weight"].dtype
        text = text.to(dtype)
        temb = self.time_embedding(t, dtype)
        x = self.conv("conv_in", sample.to(dtype))
        skips = [x]
        n = len(self.ch)
        for i, kind in enumerate(self.down_types):
            for j in range(self.layers):
                x = self.resnet(f"down_blocks.{i}.resnets.{j}", x, temb)
                if kind == "CrossAttnDownBlock2D":
                    x = self.transformer(f"down_blocks.{i}.attentions.{j}", x, text, self.heads)
                skips.append(x)
            if i < n - 1:
                x = self.conv(f"down_blocks.{i}.downsamplers.0.conv", x, stride=2)
                skips.append(x)
        x = self.resnet("mid_block.resnets.0", x, temb)
        x = self.transformer("mid_block.attentions.0", x, text, self.heads)
        x = self.resnet("mid_block.resnets.1", x, temb)
        for i, kind in enumerate(self.up_types):
            for j in range(self.layers + 1):
                x = self.resnet(f"up_blocks.{i}.resnets.{j}", torch.cat([x, skips.pop()], dim=1), temb)
                if kind == "CrossAttnUpBlock2D":
                    x = self.transformer(f"up_blocks.{i}.attentions.{j}", x, text, self.heads)
            if i < n - 1:
                x = F.interpolate(x, size=skips[-1].shape[-2:], mode="nearest")
                x = self.conv(f"up_blocks.{i}.upsamplers.0.conv", x)
        x = self.conv("conv_out", F.silu(self.gn("conv_norm_out", x, self.eps)))
        return x.float()


def load_linfusion(folder, device, dtype):
    """LinFusion's tensors renamed under 'lf.INDEX' and the map from attn1 module names to them."""
    cfg = json.load(open(os.path.join(folder, "config.json")))
    tensors = load_file(os.path.join(folder, "diffusion_pytorch_model.safetensors"))
    w = {f"lf.{k}": v.to(device=device, dtype=dtype) for k, v in tensors.items()}
    return w, {m["module_name"]: f"lf.{i}" for i, m in enumerate(cfg["modules_list"])}


def timed_ms(fn, steps, sync):
    """The wall-clock ms of each of `steps` calls of fn, the device synchronised around each."""
    times = []
    for _ in range(steps):
        sync()
        s = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - s) * 1000)
    return times


def rel_l2(a, b):
    return float((a.double() - b.double()).norm() / b.double().norm())


def check_fixtures(folder):
    """This code against diffusers' own outputs on the tiny SD 1.5 fixture (float32, CPU)."""
    cfg = json.load(open(os.path.join(folder, "sd15-tiny", "unet", "config.json")))
    w = load_file(os.path.join(folder, "sd15-tiny", "unet", "diffusion_pytorch_model.safetensors"))
    gold = load_file(os.path.join(folder, "sd15-tiny-golden.safetensors"))
    sample, text = gold["unet_in_sample"], gold["unet_in_ehs"]
    worst = 0.0
    with torch.inference_mode():
        for t in (1, 500, 999):
            out = UNet(w, cfg)(sample, torch.full((sample.shape[0],), float(t)), text)
            err = rel_l2(out, gold[f"unet_out_t{t}"])
            worst = max(worst, err)
            print(f"sd15-tiny UNet t={t}: rel-L2 {err:.2e}")
        lw, lmap = load_linfusion(os.path.join(folder, "sd15-tiny-linfusion"), "cpu", torch.float32)
        out = UNet({**w, **lw}, cfg, lmap)(sample, torch.full((sample.shape[0],), 500.0), text)
        err = rel_l2(out, gold["linfusion_unet_out_t500"])
        worst = max(worst, err)
        print(f"sd15-tiny + LinFusion UNet t=500: rel-L2 {err:.2e}")
    print("OK" if worst < 1e-4 else "FAIL", f"(worst {worst:.2e}, limit 1e-4)")
    raise SystemExit(0 if worst < 1e-4 else 1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--check-fixtures")
    p.add_argument("--weights")
    p.add_argument("--config", help="the UNet config.json that bench/sd-unet.ts wrote")
    p.add_argument("--linfusion", help="LinFusion folder (config.json + diffusion_pytorch_model.safetensors)")
    p.add_argument("--work", help="folder with inputs-SIZE.safetensors; outputs are written there")
    p.add_argument("--sizes", default="512")
    p.add_argument("--variants", default="softmax,linfusion")
    p.add_argument("--dtype", choices=["float32", "float16"], default="float16")
    p.add_argument("--steps", type=int, default=5)
    a = p.parse_args()
    if a.check_fixtures:
        check_fixtures(a.check_fixtures)

    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    dtype = getattr(torch, a.dtype)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    t0 = time.perf_counter()
    w = {k: v.to(device=device, dtype=dtype) for k, v in load_file(a.weights).items()}
    lw, lmap = load_linfusion(a.linfusion, device, dtype) if a.linfusion else ({}, {})
    sync()
    load_s = time.perf_counter() - t0
    cfg = json.load(open(a.config))
    results = []
    for size in (int(s) for s in a.sizes.split(",")):
        inp = load_file(os.path.join(a.work, f"inputs-{size}.safetensors"))
        sample, t, text = (inp[k].to(device) for k in ("sample", "timestep", "encoder_hidden_states"))
        for variant in a.variants.split(","):
            if variant not in ("softmax", "linfusion"):
                results.append({"variant": variant, "size": size, "error": "not implemented in the PyTorch reference"})
                continue
            model = UNet({**w, **lw}, cfg, lmap if variant == "linfusion" else None)
            if device == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            try:
                with torch.inference_mode():
                    out = model(sample, t, text)
                    model(sample, t, text)
                    times = timed_ms(lambda: model(sample, t, text), a.steps, sync)
            except torch.OutOfMemoryError as e:
                results.append({"variant": variant, "size": size, "error": f"out of memory: {str(e)[:160]}"})
                continue
            save_file({"out": out.contiguous().cpu()}, os.path.join(a.work, f"torch-{variant}-{size}.safetensors"))
            times.sort()
            peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None
            results.append({"variant": variant, "size": size, "median_ms": times[len(times) // 2], "min_ms": times[0],
                            "steps": len(times), "peak_gb": peak, "finite": bool(torch.isfinite(out).all())})
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    print(json.dumps({"device": name, "torch": torch.__version__, "load_s": load_s, "results": results}))


if __name__ == "__main__":
    main()
