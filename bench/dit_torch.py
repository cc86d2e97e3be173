"""The class-conditional DiT in plain PyTorch, for timing beside bench/dit.ts on the same GPU.

Reads the same random-weights safetensors file and inputs that bench/dit.ts wrote, runs the forward
pass in the requested dtype (attention through scaled_dot_product_attention), writes the output for an
agreement check and prints one JSON line: {"device", "median_ms", "min_ms", "load_s"}.
"""
import argparse
import json
import math
import time

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file


def layer_norm(x):
    return F.layer_norm(x, x.shape[-1:], eps=1e-6)


def modulated(x, shift, scale):
    return layer_norm(x) * (1 + scale[:, None]) + shift[:, None]


def linear(w, name, x):
    return F.linear(x, w[name + ".weight"], w[name + ".bias"])


def timestep_frequencies(t, dim=256, max_period=10000):
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


def dit_forward(w, x, t, y, depth, heads, patch):
    n, _, height, width = x.shape
    dt = w["pos_embed"].dtype
    tokens = F.conv2d(x.to(dt), w["x_embedder.proj.weight"], w["x_embedder.proj.bias"], stride=patch)
    tokens = tokens.flatten(2).transpose(1, 2) + w["pos_embed"]
    temb = timestep_frequencies(t).to(dt)
    temb = linear(w, "t_embedder.mlp.2", F.silu(linear(w, "t_embedder.mlp.0", temb)))
    c = temb + w["y_embedder.embedding_table.weight"][y]
    silu_c = F.silu(c)
    d = tokens.shape[-1]
    for i in range(depth):
        b = f"blocks.{i}"
        sh1, sc1, g1, sh2, sc2, g2 = linear(w, b + ".adaLN_modulation.1", silu_c).chunk(6, dim=1)
        qkv = linear(w, b + ".attn.qkv", modulated(tokens, sh1, sc1))
        q, k, v = qkv.view(n, -1, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
        attn = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n, -1, d)
        tokens = tokens + g1[:, None] * linear(w, b + ".attn.proj", attn)
        h = F.gelu(linear(w, b + ".mlp.fc1", modulated(tokens, sh2, sc2)), approximate="tanh")
        tokens = tokens + g2[:, None] * linear(w, b + ".mlp.fc2", h)
    shift, scale = linear(w, "final_layer.adaLN_modulation.1", silu_c).chunk(2, dim=1)
    out = linear(w, "final_layer.linear", modulated(tokens, shift, scale))
    rows, cols = height // patch, width // patch
    channels = out.shape[-1] // (patch * patch)
    out = out.reshape(n, rows, cols, patch, patch, channels).permute(0, 5, 1, 3, 2, 4)
    return out.reshape(n, channels, height, width)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--weights", required=True)
    p.add_argument("--inputs", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--dtype", choices=["float32", "float16"], default="float32")
    p.add_argument("--depth", type=int, default=28)
    p.add_argument("--heads", type=int, default=16)
    p.add_argument("--patch", type=int, default=2)
    p.add_argument("--steps", type=int, default=10)
    a = p.parse_args()

    device = "cuda" if torch.cuda.is_available() else "cpu"
    # True fp32 on both sides: TF32 would make PyTorch faster by computing less precisely than WebGPU does.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dtype = getattr(torch, a.dtype)
    t0 = time.perf_counter()
    w = {k: v.to(device=device, dtype=dtype) for k, v in load_file(a.weights).items()}
    if device == "cuda":
        torch.cuda.synchronize()
    load_s = time.perf_counter() - t0
    inp = load_file(a.inputs)
    x, t, y = inp["x"].to(device), inp["t"].to(device), inp["y"].to(device)

    def step():
        return dit_forward(w, x, t, y, a.depth, a.heads, a.patch)

    times = []
    with torch.inference_mode():
        out = step()
        for _ in range(2):
            step()
        for _ in range(a.steps):
            if device == "cuda":
                torch.cuda.synchronize()
            s = time.perf_counter()
            step()
            if device == "cuda":
                torch.cuda.synchronize()
            times.append((time.perf_counter() - s) * 1000)
    save_file({"out": out.float().contiguous().cpu()}, a.out)
    times.sort()
    name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    print(json.dumps({"device": name, "median_ms": times[len(times) // 2], "min_ms": times[0], "load_s": load_s}))


if __name__ == "__main__":
    main()
