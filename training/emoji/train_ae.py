"""Phase 1: the latent autoencoder (training images only; held-out emoji never seen)."""
import os

import torch
import torch.nn.functional as F

from .common import Throughput, count_params, generator, load_checkpoint, log, lr_at, resume, rng_state, save_checkpoint
from .config import VAEConfig
from .vae import AutoEncoder

KL_WEIGHT = 1e-6


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = ((a.clamp(-1, 1) - b) ** 2).mean(dim=(1, 2, 3)) / 4.0  # images in [-1,1] -> [0,1]
    return float((10 * torch.log10(1.0 / mse.clamp_min(1e-10))).mean())


@torch.no_grad()
def encode_all(ae: AutoEncoder, data, batch=1024) -> torch.Tensor:
    out = []
    for i in range(0, data.images.shape[0], batch):
        idx = torch.arange(i, min(i + batch, data.images.shape[0]), device=data.device)
        out.append(ae.encode(data.pixels(idx)).float())
    return torch.cat(out)


@torch.no_grad()
def reconstruction_report(ae: AutoEncoder, data) -> dict:
    heldout = set(data.heldout_classes)
    singles = [i for i, s in enumerate(data.is_single.tolist()) if s]
    cls = data.image_class.tolist()
    groups = {'train': [i for i in singles if cls[i] not in heldout], 'heldout': [i for i in singles if cls[i] in heldout]}
    report = {}
    for name, ids in groups.items():
        vals = []
        for i in range(0, len(ids), 1024):
            idx = torch.tensor(ids[i:i + 1024], device=data.device)
            x = data.pixels(idx)
            vals.append((psnr(ae.decode(ae.encode(x)), x), len(idx)))
        report[f'psnr_{name}'] = sum(v * n for v, n in vals) / max(1, sum(n for _, n in vals))
    return report


def run(data, work: str, sched, dev):
    final = os.path.join(work, 'ae_final.pt')
    if os.path.exists(final):
        log('ae: done already')
        return
    cfg = VAEConfig()
    torch.manual_seed(sched.seed)
    ae = AutoEncoder(cfg).to(dev)
    opt = torch.optim.AdamW(ae.parameters(), lr=sched.ae_lr, weight_decay=0.0, betas=(0.9, 0.99))
    gen = generator(dev, sched.seed + 1)
    ckpt_path = os.path.join(work, 'ckpt', 'ae.pt')
    ck = load_checkpoint(ckpt_path)
    start = resume(ck, opt, gen, lambda c: ae.load_state_dict(c['model']))
    if ck:
        log(f'ae: resumed at step {start}')
    log(f'ae: {count_params(ae.encoder)} encoder + {count_params(ae.decoder)} decoder params')
    timer = Throughput()
    pool = data.trainable_images
    for step in range(start, sched.ae_steps):
        for g in opt.param_groups:
            g['lr'] = lr_at(step, sched.ae_steps, sched.ae_lr, sched.warmup)
        idx = pool[torch.randint(len(pool), (sched.ae_batch,), device=dev, generator=gen)]
        x = data.pixels(idx)
        with torch.autocast('cuda', dtype=torch.bfloat16, enabled=dev.type == 'cuda'):
            mean, logvar = ae.moments(x)
            z = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, device=dev, generator=gen)
            rec = ae.decoder(z).float()
        rec_loss = (rec - x).abs().mean() + ((rec - x) ** 2).mean()
        kl = 0.5 * (mean.float() ** 2 + logvar.float().exp() - 1 - logvar.float()).sum(dim=(1, 2, 3)).mean()
        loss = rec_loss + KL_WEIGHT * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(ae.parameters(), 1.0)
        opt.step()
        timer.tick()
        if (step + 1) % sched.log_every == 0 or step == start:
            log(f'ae step {step + 1}/{sched.ae_steps} loss {loss.item():.4f} rec {rec_loss.item():.4f} kl {kl.item():.1f} ({timer.rate():.1f} it/s)')
        if (step + 1) % sched.checkpoint_every == 0:
            save_checkpoint(ckpt_path, {'step': step + 1, 'model': ae.state_dict(), 'opt': opt.state_dict(), 'rng': rng_state(gen)})
    ae.eval()
    with torch.no_grad():
        idx = data.trainable_images
        means = torch.cat([ae.moments(data.pixels(idx[i:i + 1024]))[0].float() for i in range(0, len(idx), 1024)])
        ae.latent_shift.copy_(means.mean(dim=(0, 2, 3)))
        ae.latent_scale.copy_(means.std(dim=(0, 2, 3)))
    report = reconstruction_report(ae, data)
    log(f'ae: latent shift {ae.latent_shift.tolist()} scale {ae.latent_scale.tolist()}; reconstruction {report}')
    save_checkpoint(final, {'model': ae.state_dict(), 'report': report})
