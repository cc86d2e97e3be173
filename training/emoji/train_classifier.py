"""Phase 2b (runs beside the joint phase): the evaluation recogniser, trained on every real single
image (held-out emoji included: it judges, it is not judged). Half of each batch goes through the
frozen autoencoder so that decoder blur alone does not change its answer."""
import argparse
import os

import torch
import torch.nn.functional as F

from .classifier import EmojiClassifier
from .common import Throughput, device, generator, load_checkpoint, log, lr_at, resume, rng_state, save_checkpoint
from .config import FULL, SMOKE
from .data import EmojiData
from .train_joint import load_autoencoder


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random scale/rotation/translation on white, plus a little noise. x in [-1, 1]."""
    b, dev = x.shape[0], x.device
    r = lambda lo, hi: lo + (hi - lo) * torch.rand(b, device=dev, generator=gen)
    scale, angle = r(0.85, 1.15), r(-0.15, 0.15)
    tx, ty = r(-0.12, 0.12), r(-0.12, 0.12)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    ink = F.grid_sample(1.0 - x, grid, mode='bilinear', padding_mode='zeros', align_corners=False)
    out = 1.0 - ink  # zero ink outside the image = white
    return (out + 0.03 * torch.randn(out.shape, device=dev, generator=gen)).clamp(-1, 1)


def run(data, work: str, sched, dev):
    final = os.path.join(work, 'classifier_final.pt')
    if os.path.exists(final):
        log('classifier: done already')
        return
    ae = load_autoencoder(work, dev)
    singles = torch.nonzero(data.is_single).flatten().to(dev)
    labels = data.image_class.to(dev)
    torch.manual_seed(sched.seed + 30)
    clf = EmojiClassifier(data.num_classes).to(dev).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(clf.parameters(), lr=sched.clf_lr, weight_decay=0.05)
    gen = generator(dev, sched.seed + 31)
    ckpt_path = os.path.join(work, 'ckpt', 'classifier.pt')
    start = resume(load_checkpoint(ckpt_path), opt, gen, lambda c: clf.load_state_dict(c['model']))
    timer = Throughput()
    for step in range(start, sched.clf_steps):
        for g in opt.param_groups:
            g['lr'] = lr_at(step, sched.clf_steps, sched.clf_lr, sched.warmup)
        idx = singles[torch.randint(len(singles), (sched.clf_batch,), device=dev, generator=gen)]
        x = data.pixels(idx)
        with torch.no_grad(), torch.autocast('cuda', dtype=torch.bfloat16, enabled=dev.type == 'cuda'):
            half = sched.clf_batch // 2
            x[:half] = ae.decode(ae.encode(x[:half])).float().clamp(-1, 1)
        x = augment(x, gen).contiguous(memory_format=torch.channels_last)
        with torch.autocast('cuda', dtype=torch.bfloat16, enabled=dev.type == 'cuda'):
            logits = clf(x)
        loss = F.cross_entropy(logits.float(), labels[idx], label_smoothing=0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        timer.tick()
        if (step + 1) % (2 * sched.log_every) == 0 or step == start:
            acc = (logits.argmax(1) == labels[idx]).float().mean().item()
            log(f'classifier step {step + 1}/{sched.clf_steps} loss {loss.item():.3f} batch acc {acc:.3f} ({timer.rate():.1f} it/s)')
        if (step + 1) % sched.checkpoint_every == 0:
            save_checkpoint(ckpt_path, {'step': step + 1, 'model': clf.state_dict(), 'opt': opt.state_dict(), 'rng': rng_state(gen)})
    clf.eval()
    report = {}
    with torch.no_grad():
        for name, fn in (('real', lambda x: x), ('reconstructed', lambda x: ae.decode(ae.encode(x)).clamp(-1, 1))):
            hits, n = 0, 0
            for i in range(0, len(singles), 1024):
                idx = singles[i:i + 1024]
                hits += (clf(fn(data.pixels(idx))).argmax(1) == labels[idx]).sum().item()
                n += len(idx)
            report[f'top1_{name}_singles'] = hits / n
    log(f'classifier: {report}')
    save_checkpoint(final, {'model': clf.state_dict(), 'report': report})


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', required=True)
    ap.add_argument('--work', required=True)
    ap.add_argument('--smoke', action='store_true')
    a = ap.parse_args()
    dev = device()
    from .config import TextConfig
    run(EmojiData(a.data, dev, TextConfig().max_len), a.work, SMOKE if a.smoke else FULL, dev)
