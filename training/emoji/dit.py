"""emoji-DiT (softmax self-attention) and emoji-LiT (ReLU linear attention + 5x5 depthwise conv on V)
on 16x16x4 latents: patch 2, PixArt-style adaLN-single from timestep + pooled text, cross-attention
to the text tokens in every block."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import DiTConfig
from .layers import (Mlp, TimestepEmbedder, init_linear, merge_heads, modulate, sincos_2d,
                     softmax_attention, split_heads, zero_)


class SoftmaxSelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, grid):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        h = self.heads
        return self.proj(merge_heads(softmax_attention(split_heads(q, h), split_heads(k, h), split_heads(v, h))))


class LinearSelfAttention(nn.Module):
    """LiT: Q = relu(x Wq + bq), [K|V] = x Wkv + bkv, K = relu(K);
    O = (Q (K^T/sqrt(N))(V/sqrt(N))) / (Q mean_N(K)^T + eps) + DWConv5x5(V) with one depthwise
    kernel shared by the heads; computed in float32."""

    def __init__(self, dim: int, heads: int, kernel: int, eps: float):
        super().__init__()
        self.heads = heads
        self.eps = eps
        head_dim = dim // heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.dwc = nn.Conv2d(head_dim, head_dim, kernel, padding=kernel // 2, groups=head_dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, grid):
        b, n, c = x.shape
        h = self.heads
        d = c // h
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = x.float()
            q = F.relu(split_heads(self.q(x), h))
            k, v = self.kv(x).chunk(2, dim=-1)
            k = F.relu(split_heads(k, h))
            v = split_heads(v, h)
            z = 1.0 / (q @ k.mean(dim=2, keepdim=True).transpose(-1, -2) + self.eps)
            s = (k.transpose(-1, -2) * n ** -0.5) @ (v * n ** -0.5)
            o = (q @ s) * z
            v_img = v.transpose(-1, -2).reshape(b * h, d, grid[0], grid[1])
            o = o + self.dwc(v_img).reshape(b, h, d, n).transpose(-1, -2)
            return self.proj(merge_heads(o))


class CrossAttention(nn.Module):
    def __init__(self, dim: int, text_dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q_linear = nn.Linear(dim, dim)
        self.kv_linear = nn.Linear(text_dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, text, mask):
        h = self.heads
        k, v = self.kv_linear(text).chunk(2, dim=-1)
        o = softmax_attention(split_heads(self.q_linear(x), h), split_heads(k, h), split_heads(v, h), mask)
        return self.proj(merge_heads(o))


class Block(nn.Module):
    def __init__(self, cfg: DiTConfig):
        super().__init__()
        d = cfg.hidden_size
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=cfg.layer_norm_eps)
        if cfg.self_attention == 'softmax':
            self.attn = SoftmaxSelfAttention(d, cfg.num_heads)
        elif cfg.self_attention == 'relu-linear':
            self.attn = LinearSelfAttention(d, cfg.linear_heads, cfg.dwc_kernel, cfg.linear_eps)
        else:
            raise ValueError(f'unknown self_attention {cfg.self_attention!r}')
        self.cross_attn = CrossAttention(d, cfg.text_dim, cfg.num_heads)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False, eps=cfg.layer_norm_eps)
        self.mlp = Mlp(d, cfg.mlp_hidden)
        self.scale_shift_table = nn.Parameter(torch.zeros(6, d))

    def forward(self, x, mod, text, mask, grid):
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = (self.scale_shift_table[None] + mod).unbind(1)
        x = x + gate_msa[:, None] * self.attn(modulate(self.norm1(x), shift_msa[:, None], scale_msa[:, None]), grid)
        x = x + self.cross_attn(x, text, mask)
        return x + gate_mlp[:, None] * self.mlp(modulate(self.norm2(x), shift_mlp[:, None], scale_mlp[:, None]))


class PatchEmbed(nn.Module):
    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.proj = nn.Conv2d(cfg.in_channels, cfg.hidden_size, cfg.patch_size, stride=cfg.patch_size)


class FinalLayer(nn.Module):
    def __init__(self, cfg: DiTConfig):
        super().__init__()
        d = cfg.hidden_size
        self.norm_final = nn.LayerNorm(d, elementwise_affine=False, eps=cfg.layer_norm_eps)
        self.linear = nn.Linear(d, cfg.patch_size * cfg.patch_size * cfg.in_channels)
        self.scale_shift_table = nn.Parameter(torch.zeros(2, d))


class EmojiDiT(nn.Module):
    """forward(x [B,4,16,16], t [B] in [0,1], text [B,L,Dt], mask [B,L] bool, pooled [B,Dt]) -> velocity."""

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.hidden_size
        self.grid = cfg.latent_size // cfg.patch_size
        self.x_embedder = PatchEmbed(cfg)
        self.register_buffer('pos_embed', sincos_2d(d, self.grid)[None])
        self.t_embedder = TimestepEmbedder(d, cfg.freq_dim)
        self.text_pool_proj = nn.Linear(cfg.text_dim, d)
        self.t_block = nn.Sequential(nn.SiLU(), nn.Linear(d, 6 * d))
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.depth)])
        self.final_layer = FinalLayer(cfg)
        self._init()

    def _init(self):
        init_linear(self)
        w = self.x_embedder.proj.weight
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.x_embedder.proj.bias)
        for m in (self.t_embedder.mlp[0], self.t_embedder.mlp[2]):
            nn.init.normal_(m.weight, std=0.02)
        zero_(self.t_block)
        for blk in self.blocks:
            zero_(blk.cross_attn.proj)
        zero_(self.final_layer.linear)

    def forward(self, x, t, text, mask, pooled):
        b = x.shape[0]
        d = self.cfg.hidden_size
        p = self.cfg.patch_size
        h = self.x_embedder.proj(x).flatten(2).transpose(1, 2) + self.pos_embed
        c = self.t_embedder(t) + self.text_pool_proj(pooled)
        mod = self.t_block(c).reshape(b, 6, d)
        for blk in self.blocks:
            h = blk(h, mod, text, mask, (self.grid, self.grid))
        shift, scale = (self.final_layer.scale_shift_table[None] + c[:, None]).unbind(1)
        h = self.final_layer.linear(modulate(self.final_layer.norm_final(h), shift[:, None], scale[:, None]))
        g = self.grid
        h = h.reshape(b, g, g, p, p, self.cfg.in_channels)
        return torch.einsum('nhwpqc->nchpwq', h).reshape(b, self.cfg.in_channels, g * p, g * p)


def inherit_from_dit(lit: EmojiDiT, dit: EmojiDiT) -> list:
    """LiT recipe: copy every DiT weight except the self-attention's q/k/v (attn.qkv); attn.proj, the
    cross-attention, MLPs and embeddings are inherited. Returns the names left at their fresh init."""
    src = dit.state_dict()
    fresh = []
    state = lit.state_dict()
    for name in state:
        if name in src and src[name].shape == state[name].shape and '.attn.qkv.' not in name:
            state[name] = src[name].clone()
        else:
            fresh.append(name)
    lit.load_state_dict(state)
    return fresh
