"""Architecture hyper-parameters and training schedules. Everything the engine needs is exported
into each model's config.json by export.py; nothing here is read at inference time."""
from dataclasses import dataclass, field, asdict, replace


@dataclass(frozen=True)
class TextConfig:
    vocab_size: int = 0  # set from the built vocabulary
    dim: int = 192
    layers: int = 2
    heads: int = 3
    mlp_hidden: int = 384
    max_len: int = 24
    layer_norm_eps: float = 1e-5


@dataclass(frozen=True)
class VAEConfig:
    image_channels: int = 3
    latent_channels: int = 4
    encoder_channels: tuple = (32, 64, 96)   # at 64, 32, 16 px
    decoder_channels: tuple = (96, 64, 48)   # at 16, 32, 64 px
    decoder_blocks_at_16: int = 2
    group_norm_groups: int = 8
    group_norm_eps: float = 1e-6
    image_size: int = 64


@dataclass(frozen=True)
class DiTConfig:
    self_attention: str = 'softmax'  # 'softmax' (emoji-DiT) or 'relu-linear' (emoji-LiT)
    in_channels: int = 4
    latent_size: int = 16
    patch_size: int = 2
    hidden_size: int = 256
    depth: int = 6
    num_heads: int = 4          # softmax self-attention and cross-attention heads
    linear_heads: int = 2       # LiT self-attention heads ("few heads")
    dwc_kernel: int = 5
    linear_eps: float = 1e-6
    mlp_hidden: int = 768
    text_dim: int = 192
    layer_norm_eps: float = 1e-6
    freq_dim: int = 256


@dataclass(frozen=True)
class DiCoConfig:
    in_channels: int = 4
    latent_size: int = 16
    channels: int = 96
    level_mult: tuple = (1, 2, 2)
    depths: tuple = (2, 2, 2, 2, 2)  # encoder_level_1, encoder_level_2, latent, decoder_level_2, decoder_level_1
    mlp_ratio: int = 2
    cond_dim: int = 192
    text_dim: int = 192
    layer_norm_eps: float = 1e-6
    freq_dim: int = 256


@dataclass(frozen=True)
class Schedule:
    seed: int = 1234
    ae_steps: int = 3500
    ae_batch: int = 256
    ae_lr: float = 1e-3
    clf_steps: int = 4000
    clf_batch: int = 512
    clf_lr: float = 2e-3
    joint_steps: int = 7500
    joint_batch: int = 512
    joint_lr: float = 4e-4
    lit_steps: int = 3500
    lit_batch: int = 512
    lit_lr: float = 4e-4
    lit_distill_weight: float = 0.5
    warmup: int = 500
    ema_decay: float = 0.999
    caption_dropout: float = 0.1
    word_dropout: float = 0.05
    pair_probability: float = 0.25
    checkpoint_every: int = 1000
    log_every: int = 250
    # evaluation
    eval_heldout_seeds: int = 4
    eval_train_classes: int = 512
    eval_val_classes: int = 256
    eval_pairs: int = 256
    sweep_steps: tuple = (8, 12, 16)
    sweep_cfg: tuple = (2.0, 3.5, 5.0)
    sweep_shift: tuple = (1.0, 2.0)
    flop_budget: float = 25e9


FULL = Schedule()
SMOKE = replace(
    FULL, ae_steps=60, clf_steps=60, joint_steps=80, lit_steps=40, warmup=10, checkpoint_every=50, log_every=20,
    eval_heldout_seeds=1, eval_train_classes=64, eval_val_classes=32, eval_pairs=32,
    sweep_steps=(8,), sweep_cfg=(3.5,), sweep_shift=(1.0, 2.0),
)


def to_dict(cfg) -> dict:
    d = asdict(cfg)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}
