"""emoji-DiCo: DiCo blocks (1x1 conv, 3x3 depthwise conv, GELU, compact channel attention, 1x1 conv;
1x1-conv FFN; adaLN) in a 3-level U-shape on 16x16x4 latents. Text enters through adaLN only:
c = t_embedder(t) + text_pool_proj(pooled). Down: 2x2 stride-2 conv; up: nearest x2 + 3x3 conv."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import DiCoConfig
from .layers import TimestepEmbedder, channel_layer_norm, gelu, zero_


class DiCoBlock(nn.Module):
    def __init__(self, width: int, cfg: DiCoConfig):
        super().__init__()
        self.eps = cfg.layer_norm_eps
        hidden = cfg.mlp_ratio * width
        self.conv1 = nn.Conv2d(width, width, 1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, groups=width)
        self.ca = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(width, width, 1), nn.Sigmoid())
        self.conv3 = nn.Conv2d(width, width, 1)
        self.conv4 = nn.Conv2d(width, hidden, 1)
        self.conv5 = nn.Conv2d(hidden, width, 1)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(cfg.cond_dim, 6 * width))
        zero_(self.adaLN_modulation[1])

    def forward(self, inp, c):
        mods = self.adaLN_modulation(c)[:, :, None, None].chunk(6, dim=1)
        shift1, scale1, gate1, shift2, scale2, gate2 = mods
        x = channel_layer_norm(inp, self.eps) * (1 + scale1) + shift1
        x = gelu(self.conv2(self.conv1(x)))
        x = x * self.ca(x)
        x = inp + gate1 * self.conv3(x)
        y = channel_layer_norm(x, self.eps) * (1 + scale2) + shift2
        return x + gate2 * self.conv5(gelu(self.conv4(y)))


class Stage(nn.Module):
    def __init__(self, width: int, depth: int, cfg: DiCoConfig):
        super().__init__()
        self.blocks = nn.ModuleList([DiCoBlock(width, cfg) for _ in range(depth)])

    def forward(self, x, c):
        for blk in self.blocks:
            x = blk(x, c)
        return x


class Down(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 2, stride=2)

    def forward(self, x):
        return self.conv(x)


class Up(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode='nearest'))


class FinalLayer(nn.Module):
    def __init__(self, width: int, cfg: DiCoConfig):
        super().__init__()
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(cfg.cond_dim, 2 * width))
        self.out_proj = nn.Conv2d(width, cfg.in_channels, 3, padding=1)
        zero_(self.adaLN_modulation[1])
        zero_(self.out_proj)


class EmojiDiCo(nn.Module):
    """forward(x, t, text, mask, pooled) with the DiT signature; text tokens and mask are unused."""

    def __init__(self, cfg: DiCoConfig):
        super().__init__()
        self.cfg = cfg
        w1, w2, w3 = (cfg.channels * m for m in cfg.level_mult)
        d1, d2, d3, d4, d5 = cfg.depths
        self.x_embedder = nn.Module()
        self.x_embedder.proj = nn.Conv2d(cfg.in_channels, w1, 3, padding=1)
        self.t_embedder = TimestepEmbedder(cfg.cond_dim, cfg.freq_dim)
        self.text_pool_proj = nn.Linear(cfg.text_dim, cfg.cond_dim)
        self.encoder_level_1 = Stage(w1, d1, cfg)
        self.down1_2 = Down(w1, w2)
        self.encoder_level_2 = Stage(w2, d2, cfg)
        self.down2_3 = Down(w2, w3)
        self.latent = Stage(w3, d3, cfg)
        self.up3_2 = Up(w3, w2)
        self.reduce_chan_level2 = nn.Conv2d(2 * w2, w2, 1)
        self.decoder_level_2 = Stage(w2, d4, cfg)
        self.up2_1 = Up(w2, w1)
        self.reduce_chan_level1 = nn.Conv2d(2 * w1, w1, 1)
        self.decoder_level_1 = Stage(w1, d5, cfg)
        self.final_layer = FinalLayer(w1, cfg)
        nn.init.xavier_uniform_(self.text_pool_proj.weight)
        nn.init.zeros_(self.text_pool_proj.bias)

    def forward(self, x, t, text, mask, pooled):
        c = self.t_embedder(t) + self.text_pool_proj(pooled)
        e1 = self.encoder_level_1(self.x_embedder.proj(x), c)
        e2 = self.encoder_level_2(self.down1_2(e1), c)
        h = self.latent(self.down2_3(e2), c)
        h = self.reduce_chan_level2(torch.cat([self.up3_2(h), e2], dim=1))
        h = self.decoder_level_2(h, c)
        h = self.reduce_chan_level1(torch.cat([self.up2_1(h), e1], dim=1))
        h = self.decoder_level_1(h, c)
        shift, scale = self.final_layer.adaLN_modulation(c)[:, :, None, None].chunk(2, dim=1)
        h = channel_layer_norm(h, self.cfg.layer_norm_eps) * (1 + scale) + shift
        return self.final_layer.out_proj(h)
