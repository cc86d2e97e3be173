"""Tiny latent autoencoder: 64x64x3 in [-1, 1] <-> 16x16x4 latents (normalised per channel)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import VAEConfig


class ResBlock(nn.Module):
    def __init__(self, ch: int, cfg: VAEConfig):
        super().__init__()
        self.norm1 = nn.GroupNorm(cfg.group_norm_groups, ch, eps=cfg.group_norm_eps)
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.norm2 = nn.GroupNorm(cfg.group_norm_groups, ch, eps=cfg.group_norm_eps)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        return x + self.conv2(F.silu(self.norm2(h)))


class Encoder(nn.Module):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        c1, c2, c3 = cfg.encoder_channels
        self.conv_in = nn.Conv2d(cfg.image_channels, c1, 3, padding=1)
        self.res0 = ResBlock(c1, cfg)
        self.down0 = nn.Conv2d(c1, c2, 3, stride=2, padding=1)
        self.res1 = ResBlock(c2, cfg)
        self.down1 = nn.Conv2d(c2, c3, 3, stride=2, padding=1)
        self.res2 = ResBlock(c3, cfg)
        self.norm_out = nn.GroupNorm(cfg.group_norm_groups, c3, eps=cfg.group_norm_eps)
        self.conv_out = nn.Conv2d(c3, 2 * cfg.latent_channels, 3, padding=1)

    def forward(self, x):
        h = self.res0(self.conv_in(x))
        h = self.res1(self.down0(h))
        h = self.res2(self.down1(h))
        return self.conv_out(F.silu(self.norm_out(h)))  # [mean | logvar]


class Decoder(nn.Module):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        c1, c2, c3 = cfg.decoder_channels
        self.conv_in = nn.Conv2d(cfg.latent_channels, c1, 3, padding=1)
        self.mid = nn.ModuleList([ResBlock(c1, cfg) for _ in range(cfg.decoder_blocks_at_16)])
        self.up0 = nn.Conv2d(c1, c2, 3, padding=1)
        self.res1 = ResBlock(c2, cfg)
        self.up1 = nn.Conv2d(c2, c3, 3, padding=1)
        self.res2 = ResBlock(c3, cfg)
        self.norm_out = nn.GroupNorm(cfg.group_norm_groups, c3, eps=cfg.group_norm_eps)
        self.conv_out = nn.Conv2d(c3, cfg.image_channels, 3, padding=1)

    def forward(self, z):
        h = self.conv_in(z)
        for block in self.mid:
            h = block(h)
        h = self.res1(self.up0(F.interpolate(h, scale_factor=2.0, mode='nearest')))
        h = self.res2(self.up1(F.interpolate(h, scale_factor=2.0, mode='nearest')))
        return self.conv_out(F.silu(self.norm_out(h)))


class AutoEncoder(nn.Module):
    """encode(): normalised latent mean; decode(): from normalised latents. latent_shift/latent_scale
    (per channel) are buffers set after training so that the diffusion latents have unit variance."""

    def __init__(self, cfg: VAEConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.register_buffer('latent_shift', torch.zeros(cfg.latent_channels))
        self.register_buffer('latent_scale', torch.ones(cfg.latent_channels))

    def moments(self, x):
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        return mean, logvar.clamp(-20.0, 10.0)

    def encode(self, x):
        mean, _ = self.moments(x)
        return (mean - self.latent_shift[None, :, None, None]) / self.latent_scale[None, :, None, None]

    def decode(self, z):
        z = z * self.latent_scale[None, :, None, None] + self.latent_shift[None, :, None, None]
        return self.decoder(z)
