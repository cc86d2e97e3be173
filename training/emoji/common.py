"""Seeds, EMA, learning-rate schedule, resumable checkpoints and logging shared by the phases."""
import copy
import math
import os
import sys
import time

import torch


def log(*parts):
    print(time.strftime('%H:%M:%S'), *parts, flush=True)
    sys.stdout.flush()


def device():
    if not torch.cuda.is_available():
        log('WARNING: no CUDA device, running on CPU')
        return torch.device('cpu')
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    return torch.device('cuda')


def generator(dev, seed: int) -> torch.Generator:
    g = torch.Generator(device=dev)
    g.manual_seed(seed)
    return g


def lr_at(step: int, total: int, base: float, warmup: int) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


class EMA:
    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int):
        d = min(self.decay, (1 + step) / (10 + step))
        torch._foreach_lerp_(list(self.model.parameters()), [p.detach() for p in model.parameters()], 1 - d)
        for e, b in zip(self.model.buffers(), model.buffers()):
            e.copy_(b)


def save_checkpoint(path: str, state: dict):
    tmp = path + '.tmp'
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str):
    if not os.path.exists(path):
        return None
    return torch.load(path, map_location='cpu', weights_only=False)


def resume(ck, opt, gen: torch.Generator, load_weights) -> int:
    """Goes on from a checkpoint: `load_weights(ck)` restores the models (and EMAs), then the optimizer
    and the generators; returns the step to start from (0 without a checkpoint)."""
    if not ck:
        return 0
    load_weights(ck)
    opt.load_state_dict(ck['opt'])
    restore_rng(gen, ck['rng'])
    return ck['step']


def rng_state(gen: torch.Generator) -> dict:
    return {'gen': gen.get_state(), 'torch': torch.get_rng_state()}


def restore_rng(gen: torch.Generator, state: dict):
    gen.set_state(state['gen'])
    torch.set_rng_state(state['torch'])


def count_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class Throughput:
    def __init__(self):
        self.t0 = time.time()
        self.n = 0

    def tick(self, n=1):
        self.n += n

    def rate(self) -> float:
        dt = time.time() - self.t0
        r = self.n / dt if dt > 0 else 0.0
        self.t0, self.n = time.time(), 0
        return r
