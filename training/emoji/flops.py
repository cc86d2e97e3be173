"""FLOPs of one image at given sampler settings, counted by torch's FlopCounterMode (matrix
products and convolutions, 2 FLOPs per multiply-add; elementwise ops are not counted)."""
import copy

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode


def _count(fn) -> int:
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:  # attention as countable matmuls
        fn()
    return counter.get_total_flops()


@torch.no_grad()
def per_image(nets: dict, name: str, steps: int, max_len: int) -> dict:
    nets = {k: copy.deepcopy(m).float().cpu() for k, m in nets.items() if k in ('text', 'vae', name)}
    ids = torch.zeros(2, max_len, dtype=torch.long)
    ids[:, 0] = 1
    ids[0, 1:4] = 3
    text = _count(lambda: nets['text'](ids))
    tokens, pooled, mask = nets['text'](ids)
    x = torch.randn(2, 4, 16, 16)
    t = torch.full((2,), 0.5)
    denoise_pair = _count(lambda: nets[name](x, t, tokens, mask, pooled))  # batch 2 = cond + uncond
    decode = _count(lambda: nets['vae'].decode(x[:1]))
    total = text + steps * denoise_pair + decode
    return {'text_encoder': text, 'denoiser_per_step_with_cfg': denoise_pair, 'vae_decoder': decode, 'total': total}
