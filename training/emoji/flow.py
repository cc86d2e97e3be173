"""Rectified flow: x_t = (1-t) x0 + t eps, the network predicts v = eps - x0; Euler sampler with
a shifted time grid and classifier-free guidance on every channel."""
import torch


def training_pair(x0: torch.Tensor, gen: torch.Generator):
    b = x0.shape[0]
    t = torch.sigmoid(torch.randn(b, device=x0.device, generator=gen))  # logit-normal(0, 1)
    eps = torch.randn(x0.shape, device=x0.device, generator=gen)
    tt = t[:, None, None, None]
    return (1 - tt) * x0 + tt * eps, t, eps - x0


def time_grid(steps: int, shift: float) -> list:
    """t_i = shift*u/(1+(shift-1)*u) for u = 1 - i/steps, i = 0..steps (t_0 = 1, t_steps = 0)."""
    out = []
    for i in range(steps + 1):
        u = 1.0 - i / steps
        out.append(shift * u / (1.0 + (shift - 1.0) * u))
    return out


@torch.no_grad()
def sample(model, noise, cond, uncond, steps: int, cfg: float, shift: float):
    """cond/uncond: (tokens, mask, pooled) each with batch B. Returns x at t = 0."""
    x = noise
    b = x.shape[0]
    text = torch.cat([cond[0], uncond[0]])
    mask = torch.cat([cond[1], uncond[1]])
    pooled = torch.cat([cond[2], uncond[2]])
    ts = time_grid(steps, shift)
    for i in range(steps):
        t = torch.full((2 * b,), ts[i], device=x.device, dtype=torch.float32)
        v = model(torch.cat([x, x]), t, text, mask, pooled).float()
        v_cond, v_uncond = v.chunk(2)
        v = v_uncond + cfg * (v_cond - v_uncond)
        x = x + (ts[i + 1] - ts[i]) * v
    return x
