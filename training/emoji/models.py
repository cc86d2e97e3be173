"""Loads the trained networks from the phase outputs, with weights rounded to fp16 (what ships)."""
import os

import torch

from .config import DiCoConfig, DiTConfig, TextConfig, VAEConfig
from .dico import EmojiDiCo
from .dit import EmojiDiT
from .text import TextEncoder
from .train_lit import LIT
from .vae import AutoEncoder

DENOISERS = ('dit', 'lit', 'dico')


def round_to_fp16(module: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():
        for t in module.state_dict().values():
            if t.is_floating_point():
                t.copy_(t.half().float())
    return module


def load_all(work: str, vocab_size: int, dev) -> dict:
    joint = torch.load(os.path.join(work, 'joint_final.pt'), map_location='cpu')
    lit_state = torch.load(os.path.join(work, 'lit_final.pt'), map_location='cpu')['ema']
    vae = AutoEncoder(VAEConfig())
    vae.load_state_dict(torch.load(os.path.join(work, 'ae_final.pt'), map_location='cpu')['model'])
    text = TextEncoder(TextConfig(vocab_size=vocab_size))
    text.load_state_dict(joint['ema']['text'])
    dit = EmojiDiT(DiTConfig())
    dit.load_state_dict(joint['ema']['dit'])
    lit = EmojiDiT(LIT)
    lit.load_state_dict(lit_state)
    dico = EmojiDiCo(DiCoConfig())
    dico.load_state_dict(joint['ema']['dico'])
    nets = {'vae': vae, 'text': text, 'dit': dit, 'lit': lit, 'dico': dico}
    return {k: round_to_fp16(m).to(dev).eval().requires_grad_(False) for k, m in nets.items()}
