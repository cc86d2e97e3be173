# Goldens for issue 19 part B on the tiny PixArt-Σ of test/fixtures (CPU, float32, CPU generators):
#   kv   PixArt-Σ's key/value token compression (conv / ave / uniform / uniform_every) on layer 1,
#   lit  LiT's linear attention (ReLU kernel, 5×5 depthwise conv on V, 2 heads) in every self-attention,
#        and the same model saved in LiT's release layout (PixArt's original key names, a torch.save .pth),
#   pag  diffusers' PixArtSigmaPAGPipeline (PAG with and without CFG) and SoftPAG by the paper's equations.
# diffusers has no KV compression and no LiT: both references below are plain PyTorch written for this
# project from PixArt-Σ's AttentionKVCompress and LiT's paper (ReLU linear attention + DWC), run as
# attention processors on diffusers' own PixArtTransformer2DModel so the rest of the model is diffusers'.
#   python3 make_pixart_methods.py <diffusers src> <pixart-sigma-tiny folder>   → $OUT/pixart-methods/
import json, os, sys, traceback
sys.path.insert(0, sys.argv[1])
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

FOLDER = sys.argv[2]
OUT = os.path.join(os.environ['OUT'], 'pixart-methods')
os.makedirs(OUT, exist_ok=True)
torch.set_grad_enabled(False)
from diffusers import PixArtTransformer2DModel, PixArtSigmaPAGPipeline
report = {}
GRID = (4, 6)  # an 8×12 latent in patches of 2: not square, so rows and columns cannot be swapped unnoticed
TIMESTEPS = (1, 500, 999)


def section(name, fn):
    try:
        fn()
        report[name] = 'ok'
    except Exception:
        report[name] = traceback.format_exc()
    print(name, report[name], flush=True)


def f32(t):
    return t.detach().to(torch.float32).contiguous().cpu()


def bf16(t):
    # Extra weights are stored as bf16 (as the fixture's transformer); the goldens use the rounded values.
    return t.to(torch.bfloat16).to(torch.float32)


def transformer():
    return PixArtTransformer2DModel.from_pretrained(f'{FOLDER}/transformer', torch_dtype=torch.float32).eval()


def inputs(batch=2):
    g = torch.Generator().manual_seed(7)
    x = torch.randn(batch, 4, 2 * GRID[0], 2 * GRID[1], generator=g)
    ctx = torch.randn(batch, 32, 80, generator=g)
    mask = torch.ones(batch, 32, dtype=torch.int64)
    mask[0, 11:] = 0
    return x, ctx, mask


def run(model, x, ctx, mask, ts):
    return model(x, encoder_hidden_states=ctx, encoder_attention_mask=mask, timestep=torch.full((x.shape[0],), float(ts)),
                 added_cond_kwargs={'resolution': None, 'aspect_ratio': None}, return_dict=False)[0]


def heads_of(x, heads):
    b, n, c = x.shape
    return x.reshape(b, n, heads, c // heads).transpose(1, 2)


def merge(x):
    b, h, n, d = x.shape
    return x.transpose(1, 2).reshape(b, n, h * d)


# ---------------------------------------------------------------- KV compression
class KvCompressReference:
    """Softmax self-attention whose K and V are downsampled on the token grid (AttentionKVCompress)."""

    def __init__(self, sampling, s, sr=None, norm=None):
        self.sampling, self.s, self.sr, self.norm = sampling, s, sr, norm

    def down(self, t):
        b, n, c = t.shape
        if self.sampling == 'uniform_every':
            return t[:, ::self.s]
        g = t.reshape(b, GRID[0], GRID[1], c).permute(0, 3, 1, 2)
        if self.sampling == 'conv':
            return self.norm(self.sr(g).reshape(b, c, -1).permute(0, 2, 1))
        if self.sampling == 'ave':
            g = F.interpolate(g, scale_factor=1 / self.s, mode='nearest')
        elif self.sampling == 'uniform':
            g = g[:, :, ::self.s, ::self.s]
        return g.permute(0, 2, 3, 1).reshape(b, -1, c)

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **kwargs):
        q = attn.to_q(hidden_states)
        k, v = self.down(attn.to_k(hidden_states)), self.down(attn.to_v(hidden_states))
        o = F.scaled_dot_product_attention(heads_of(q, attn.heads), heads_of(k, attn.heads), heads_of(v, attn.heads))
        return attn.to_out[1](attn.to_out[0](merge(o)))


def kv():
    model = transformer()
    x, ctx, mask = inputs()
    c = model.config.num_attention_heads * model.config.attention_head_dim
    g = torch.Generator().manual_seed(11)
    s = 2
    extra = {
        'transformer_blocks.1.attn1.sr.weight': bf16(1 / s ** 2 + 0.1 * torch.randn(c, 1, s, s, generator=g)),
        'transformer_blocks.1.attn1.sr.bias': bf16(0.05 * torch.randn(c, generator=g)),
        'transformer_blocks.1.attn1.norm.weight': bf16(1 + 0.1 * torch.randn(c, generator=g)),
        'transformer_blocks.1.attn1.norm.bias': bf16(0.05 * torch.randn(c, generator=g)),
    }
    sr = torch.nn.Conv2d(c, c, kernel_size=s, stride=s, groups=c)
    sr.weight.copy_(extra['transformer_blocks.1.attn1.sr.weight'])
    sr.bias.copy_(extra['transformer_blocks.1.attn1.sr.bias'])
    norm = torch.nn.LayerNorm(c)
    norm.weight.copy_(extra['transformer_blocks.1.attn1.norm.weight'])
    norm.bias.copy_(extra['transformer_blocks.1.attn1.norm.bias'])
    golden = {'x': x, 'context': ctx, 'mask': mask}
    plain = model.transformer_blocks[1].attn1.processor
    for sampling in ('conv', 'ave', 'uniform', 'uniform_every'):
        model.transformer_blocks[1].attn1.set_processor(KvCompressReference(sampling, s, sr, norm))
        for ts in TIMESTEPS:
            golden[f'{sampling}_t{ts}'] = f32(run(model, x, ctx, mask, ts))
    model.transformer_blocks[1].attn1.set_processor(plain)
    golden['plain_t500'] = f32(run(model, x, ctx, mask, 500))
    save_file({k: v.to(torch.bfloat16).contiguous() for k, v in extra.items()}, f'{OUT}/kv-compress-weights.safetensors')
    save_file({k: v.contiguous() for k, v in golden.items()}, f'{OUT}/kv-compress-golden.safetensors')
    report['kv_moved_by_compression'] = float((golden['conv_t500'] - golden['plain_t500']).norm() / golden['plain_t500'].norm())


section('kv', kv)


# ---------------------------------------------------------------- LiT
class LitReference(torch.nn.Module):
    """LiT's self-attention: ReLU linear attention normalised by division, plus a depthwise conv of V."""

    def __init__(self, dim, heads, kernel, g):
        super().__init__()
        d = dim // heads
        self.heads = heads
        self.q = torch.nn.Linear(dim, dim)
        self.kv = torch.nn.Linear(dim, 2 * dim)
        self.dwc = torch.nn.Conv2d(d, d, kernel, padding=kernel // 2, groups=d)
        for p in self.parameters():
            p.copy_(bf16(0.3 * torch.randn(p.shape, generator=g)))

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **kwargs):
        x = hidden_states
        b, n, c = x.shape
        q = F.relu(self.q(x)) + 1e-6
        k, v = self.kv(x).reshape(b, n, 2, c).unbind(2)
        k = F.relu(k) + 1e-6
        q, k, v = heads_of(q, self.heads), heads_of(k, self.heads), heads_of(v, self.heads)
        z = 1 / (q @ k.mean(dim=-2, keepdim=True).transpose(-2, -1) + 1e-6)
        state = (k.transpose(-2, -1) * n ** -0.5) @ (v * n ** -0.5)
        o = merge(q @ state * z)
        conv = self.dwc(v.reshape(b * self.heads, GRID[0], GRID[1], -1).permute(0, 3, 1, 2))
        o = o + conv.reshape(b, c, n).permute(0, 2, 1)
        return attn.to_out[1](attn.to_out[0](o))  # proj: inherited from PixArt's to_out.0, as LiT's T2I loading does


def original_layout(sd, lit):
    """diffusers PixArt-Σ names → PixArt's own (as its convert_pixart_to_diffusers reads them), LiT's attention."""
    o = {}
    ren = {'pos_embed.proj': 'x_embedder.proj', 'caption_projection.linear_1': 'y_embedder.y_proj.fc1',
           'caption_projection.linear_2': 'y_embedder.y_proj.fc2', 'adaln_single.emb.timestep_embedder.linear_1': 't_embedder.mlp.0',
           'adaln_single.emb.timestep_embedder.linear_2': 't_embedder.mlp.2', 'adaln_single.linear': 't_block.1', 'proj_out': 'final_layer.linear'}
    for a, b in ren.items():
        for wb in ('weight', 'bias'):
            o[f'{b}.{wb}'] = sd[f'{a}.{wb}']
    o['final_layer.scale_shift_table'] = sd['scale_shift_table']
    layers = len({k.split('.')[1] for k in sd if k.startswith('transformer_blocks.')})
    for i in range(layers):
        t, b = f'transformer_blocks.{i}', f'blocks.{i}'
        o[f'{b}.scale_shift_table'] = sd[f'{t}.scale_shift_table']
        for wb in ('weight', 'bias'):
            o[f'{b}.attn.q.{wb}'] = getattr(lit[i].q, wb)
            o[f'{b}.attn.kv.{wb}'] = getattr(lit[i].kv, wb)
            o[f'{b}.attn.dwc.{wb}'] = getattr(lit[i].dwc, wb)
            o[f'{b}.attn.proj.{wb}'] = sd[f'{t}.attn1.to_out.0.{wb}']
            o[f'{b}.cross_attn.q_linear.{wb}'] = sd[f'{t}.attn2.to_q.{wb}']
            o[f'{b}.cross_attn.kv_linear.{wb}'] = torch.cat([sd[f'{t}.attn2.to_k.{wb}'], sd[f'{t}.attn2.to_v.{wb}']])
            o[f'{b}.cross_attn.proj.{wb}'] = sd[f'{t}.attn2.to_out.0.{wb}']
            o[f'{b}.mlp.fc1.{wb}'] = sd[f'{t}.ff.net.0.proj.{wb}']
            o[f'{b}.mlp.fc2.{wb}'] = sd[f'{t}.ff.net.2.{wb}']
    o['pos_embed'] = torch.zeros(1, 64, sd['scale_shift_table'].shape[1])  # PixArt checkpoints carry their table; loaders drop it
    return {k: v.detach().clone().contiguous() for k, v in o.items()}


def lit():
    model = transformer()
    x, ctx, mask = inputs()
    c = model.config.num_attention_heads * model.config.attention_head_dim
    g = torch.Generator().manual_seed(13)
    refs = [LitReference(c, 2, 5, g) for _ in model.transformer_blocks]
    for block, ref in zip(model.transformer_blocks, refs):
        block.attn1.set_processor(ref)
    golden = {'x': x, 'context': ctx, 'mask': mask}
    for ts in TIMESTEPS:
        golden[f'lit_t{ts}'] = f32(run(model, x, ctx, mask, ts))
    save_file({k: v.contiguous() for k, v in golden.items()}, f'{OUT}/lit-golden.safetensors')
    torch.save({'state_dict': original_layout(model.state_dict(), refs)}, f'{OUT}/lit-tiny.pth')


section('lit', lit)


# ---------------------------------------------------------------- PAG / SoftPAG
class SoftPagReference:
    """The paper's A' = (1−u)·A + u·I per head on the last `rows` rows: (1−u)·softmax(QKᵀ/√d)V + u·V."""

    def __init__(self, u, rows):
        self.u, self.rows = u, rows

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **kwargs):
        h = attn.heads
        q, k, v = (heads_of(f(hidden_states), h).double() for f in (attn.to_q, attn.to_k, attn.to_v))
        a = torch.softmax(q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5, dim=-1) @ v
        u = torch.zeros(a.shape[0], h, 1, 1, dtype=torch.float64)
        u[-self.rows:, :, 0, 0] = self.u
        return attn.to_out[1](attn.to_out[0](merge((1 - u) * a + u * v).float()))


def pag():
    import shutil
    folder = '/tmp/pixart-pag-tiny'
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(FOLDER, folder)
    runs = {}
    for name, cfg, pag_scale in (('pag_cfg', 4.5, 3.0), ('pag_alone', 1.0, 2.0)):
        pipe = PixArtSigmaPAGPipeline.from_pretrained(folder, torch_dtype=torch.float32, pag_applied_layers=['blocks.1'])
        lat = []
        g = torch.Generator().manual_seed(3)
        out = pipe(prompt='A Tiny Robot in the rain, watercolor', negative_prompt='', guidance_scale=cfg, pag_scale=pag_scale,
                   num_inference_steps=4, height=32, width=32, generator=g, output_type='np', clean_caption=False,
                   use_resolution_binning=False, max_sequence_length=32,
                   callback=lambda i, t, l: lat.append(f32(l)))
        runs[f'{name}_latents'] = torch.stack(lat)
        runs[f'{name}_image'] = torch.from_numpy(out.images).float()
        report[name] = {'guidance_scale': cfg, 'pag_scale': pag_scale, 'layers': ['blocks.1'], 'steps': 4, 'seed': 3}
    save_file({k: v.contiguous() for k, v in runs.items()}, f'{OUT}/pag-golden.safetensors')

    model = transformer()
    x, ctx, mask = inputs()
    u = [[0.3, 1.0, 0.0], [0.5, 0.5, 0.5]]
    for block, uu in zip(model.transformer_blocks, u):
        block.attn1.set_processor(SoftPagReference(torch.tensor(uu, dtype=torch.float64), 1))
    soft = {'x': x, 'context': ctx, 'mask': mask, 'u': torch.tensor(u)}
    for ts in TIMESTEPS:
        soft[f'softpag_t{ts}'] = f32(run(model, x, ctx, mask, ts))
    save_file({k: v.contiguous() for k, v in soft.items()}, f'{OUT}/softpag-golden.safetensors')


section('pag', pag)


# ---------------------------------------------------------------- the SD3 bench's PyTorch half, tiny, to prove it
def sd3_bench_tiny():
    import subprocess
    here = os.path.dirname(os.path.abspath(__file__))
    work = '/tmp/sd3-bench-tiny'
    for extra, folder in (([], work), (['--cuda'], work + '-cuda')):  # the proof folder (CPU fp32), then the CUDA code path
        r = subprocess.run([sys.executable, os.path.join(here, 'sd3_mmdit_gpu.py'), folder, '--tiny', *extra], capture_output=True,
                           text=True, env={**os.environ, 'PYTHONPATH': sys.argv[1]}, timeout=120)
        print(r.stdout[-3000:], r.stderr[-3000:], flush=True)
        r.check_returncode()
        report[f'sd3_bench_tiny{extra}'] = json.load(open(f'{folder}/torch.json'))
    subprocess.run(['tar', '-czf', os.path.join(os.environ['OUT'], 'sd3-bench-tiny.tgz'), '-C', '/tmp', 'sd3-bench-tiny'], check=True)


if len(sys.argv) > 3 and sys.argv[3] == '--with-sd3-tiny':
    section('sd3_bench_tiny', sd3_bench_tiny)

json.dump(report, open(f'{OUT}/report.json', 'w'), indent=1)
print(json.dumps(report, indent=1)[:6000])
