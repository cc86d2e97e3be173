# The PyTorch half of the SD3 MMDiT step bench: makes a random-weight SD3Transformer2DModel (SD3-medium's
# config, or a tiny one with --tiny), saves it as a diffusers transformer folder, times one step of it in
# diffusers (fp16 on CUDA, batch 2 = CFG, 1024² → 128² latent, 77 + 256 text tokens; --tiny: fp32 on the
# CPU at 16² latent, or fp16 on CUDA with --cuda), and leaves the inputs, its output and its timing beside the weights for the studio's
# half (bench/sd3-mmdit-studio.ts), which runs the same weights through the studio's graph on ORT.
#   python3 bench/sd3_mmdit_gpu.py WORK [--tiny [--cuda]]    (diffusers' src on PYTHONPATH)
import json, os, sys, time
import torch
from safetensors.torch import save_file

work = sys.argv[1]
tiny = '--tiny' in sys.argv
cuda = torch.cuda.is_available() and (not tiny or '--cuda' in sys.argv)
device, dtype = ('cuda', torch.float16) if cuda else ('cpu', torch.float32)
torch.set_grad_enabled(False)
from diffusers import SD3Transformer2DModel

MEDIUM = dict(sample_size=128, patch_size=2, in_channels=16, num_layers=24, attention_head_dim=64, num_attention_heads=24,
              joint_attention_dim=4096, caption_projection_dim=1536, pooled_projection_dim=2048, out_channels=16, pos_embed_max_size=192)
TINY = dict(sample_size=16, patch_size=2, in_channels=16, num_layers=3, attention_head_dim=8, num_attention_heads=4,
            joint_attention_dim=80, caption_projection_dim=32, pooled_projection_dim=64, out_channels=16, pos_embed_max_size=24)
cfg = TINY if tiny else MEDIUM
latent, text = (16, 12) if tiny else (128, 333)

t0 = time.time()
torch.manual_seed(0)
with torch.device(device):
    # Built on the device (fast), then moved whole: the sin-cos position table is made on the CPU.
    model = SD3Transformer2DModel(**cfg).to(device=device, dtype=dtype).eval()
    for name, p in model.named_parameters():
        # Small random weights keep 24 fp16 blocks finite; the adaLN projections smaller still.
        scale = 0.02 if p.dim() > 1 else 0.1
        p.copy_(torch.randn(p.shape) * (scale * (0.5 if 'norm' in name else 1)))
model.save_pretrained(f'{work}/transformer')
made_s = time.time() - t0

g = torch.Generator().manual_seed(1)
feeds = {
    'hidden_states': torch.randn(2, 16, latent, latent, generator=g),
    'encoder_hidden_states': torch.randn(2, text, cfg['joint_attention_dim'], generator=g),
    'pooled_projections': torch.randn(2, cfg['pooled_projection_dim'], generator=g),
    'timestep': torch.tensor([500.0, 500.0]),
}
save_file(feeds, f'{work}/inputs.safetensors')
on = {k: v.to(device, dtype if k != 'timestep' else torch.float32) for k, v in feeds.items()}


def step():
    out = model(**on, return_dict=False)[0]
    if cuda:
        torch.cuda.synchronize()
    return out


warm, n = (3, 10) if cuda else (1, 3)
for _ in range(warm):
    step()
if cuda:
    torch.cuda.reset_peak_memory_stats()
times = []
for _ in range(n):
    t = time.perf_counter()
    out = step()
    times.append(1000 * (time.perf_counter() - t))
save_file({'out': out.float().cpu().contiguous()}, f'{work}/torch-out.safetensors')
result = {
    'what': f"diffusers {__import__('diffusers').__version__} PyTorch {torch.__version__} {'fp16 SDPA' if cuda else 'fp32'} on {torch.cuda.get_device_name() if cuda else 'CPU'}",
    'device': device, 'dtype': 'float16' if cuda else 'float32', 'median_ms': sorted(times)[n // 2], 'steps': n,
    'peak_gib': torch.cuda.max_memory_allocated() / 2 ** 30 if cuda else None, 'parameters': sum(p.numel() for p in model.parameters()),
    'latent': latent, 'text_tokens': text, 'made_s': made_s,
}
json.dump(result, open(f'{work}/torch.json', 'w'), indent=1)
print(json.dumps(result, indent=1), flush=True)
