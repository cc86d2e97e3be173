# PyTorch's side of bench/mha-formats.ts: the same attention layer stack (self-attention, cross-attention on
# 77 text tokens, output projection, residual) in fp16 with SDPA, as diffusers' AttnProcessor2_0 lays it out
# (view + transpose to [B, heads, S, d]), timed per run with torch.cuda's peak allocation and nvidia-smi's.
#   python3 bench/mha_formats_torch.py --tokens 4096,16384,65536 --shapes 8x40,10x64
import argparse, json, statistics, subprocess, time
import torch
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument('--tokens', default='4096,16384,65536')
p.add_argument('--shapes', default='8x40,10x64')
p.add_argument('--layers', type=int, default=4)
p.add_argument('--runs', type=int, default=10)
p.add_argument('--batch', type=int, default=2)
a = p.parse_args()
dev, dt = 'cuda', torch.float16


def smi_mib():
    try:
        return float(subprocess.run(['nvidia-smi', '--query-gpu=memory.used', '--format=csv,noheader,nounits'], capture_output=True, text=True).stdout.split()[0])
    except Exception:
        return float('nan')


def attend(q, k, v, heads):
    b, s, c = q.shape
    split = lambda t: t.view(b, t.shape[1], heads, c // heads).transpose(1, 2)
    return F.scaled_dot_product_attention(split(q), split(k), split(v)).transpose(1, 2).reshape(b, s, c)


print(f'| tokens | heads × d | ms per run ({a.layers} layers) | torch peak allocated GiB | nvidia-smi GiB above start |')
print('| ---: | --- | ---: | ---: | ---: |')
rows = []
for tokens in map(int, a.tokens.split(',')):
    for shape in a.shapes.split(','):
        heads, d = map(int, shape.split('x'))
        c = heads * d
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        base_alloc = torch.cuda.memory_allocated()
        smi0 = smi_mib()
        g = torch.Generator(device=dev).manual_seed(0)
        rnd = lambda *s: (torch.rand(*s, device=dev, generator=g, dtype=dt) - 0.5) * (2 * s[0] ** -0.5)
        ws = [dict(q=rnd(c, c), k=rnd(c, c), v=rnd(c, c), o=rnd(c, c), cq=rnd(c, c), ck=rnd(768, c), cv=rnd(768, c)) for _ in range(a.layers)]
        x0 = torch.rand(a.batch, tokens, c, device=dev, dtype=dt) - 0.5
        text = torch.rand(a.batch, 77, 768, device=dev, dtype=dt) - 0.5
        peak_smi = 0.0

        @torch.no_grad()
        def step():
            x = x0
            for w in ws:
                s = attend(x @ w['q'], x @ w['k'], x @ w['v'], heads)
                cr = attend(x @ w['cq'], text @ w['ck'], text @ w['cv'], heads)
                x = (s + cr) @ w['o'] + x
            return x.mean(1)

        step(); torch.cuda.synchronize()
        times = []
        for _ in range(a.runs):
            t0 = time.perf_counter(); step(); torch.cuda.synchronize(); times.append((time.perf_counter() - t0) * 1000)
            peak_smi = max(peak_smi, smi_mib())
        alloc = (torch.cuda.max_memory_allocated() - base_alloc) / 2**30
        smi = (peak_smi - smi0) / 1024
        ms = statistics.median(times)
        rows.append(dict(tokens=tokens, heads=heads, d=d, ms=ms, allocGiB=alloc, smiGiB=smi))
        print(f'| {tokens} | {heads} × {d} | {ms:.2f} | {alloc:.2f} | {smi:.2f} |', flush=True)
        del ws, x0, text
print('JSON ' + json.dumps(rows))
