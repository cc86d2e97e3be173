"""Phase 2: text encoder + emoji-DiT + emoji-DiCo trained together on one batch stream (the text
encoder gets gradients from both denoisers), rectified-flow loss on the autoencoder latents."""
import os

import torch
import torch.nn.functional as F

from .common import EMA, Throughput, count_params, generator, load_checkpoint, log, lr_at, resume, rng_state, save_checkpoint
from .config import DiCoConfig, DiTConfig, TextConfig
from .dico import EmojiDiCo
from .dit import EmojiDiT
from .flow import training_pair
from .text import TextEncoder
from .train_ae import encode_all
from .vae import AutoEncoder
from .warm_start import load_shipped


def load_autoencoder(work: str, dev) -> AutoEncoder:
    from .config import VAEConfig
    ae = AutoEncoder(VAEConfig()).to(dev)
    ae.load_state_dict(torch.load(os.path.join(work, 'ae_final.pt'), map_location='cpu')['model'])
    return ae.eval().requires_grad_(False)


def run(data, work: str, sched, dev, warm_dir=None):
    final = os.path.join(work, 'joint_final.pt')
    if os.path.exists(final):
        log('joint: done already')
        return
    ae = load_autoencoder(work, dev)
    latents = encode_all(ae, data)
    log(f'joint: latents {tuple(latents.shape)} mean {latents.mean():.3f} std {latents.std():.3f}')
    torch.manual_seed(sched.seed + 10)
    text = TextEncoder(TextConfig(vocab_size=len(data.vocab))).to(dev)
    dit = EmojiDiT(DiTConfig()).to(dev)
    dico = EmojiDiCo(DiCoConfig()).to(dev)
    nets = {'text': text, 'dit': dit, 'dico': dico}
    for k, m in nets.items():
        log(f'joint: {k} {count_params(m):,} params')
    params = [p for m in nets.values() for p in m.parameters()]
    opt = torch.optim.AdamW(params, lr=sched.joint_lr, weight_decay=0.0, betas=(0.9, 0.99), fused=dev.type == 'cuda')
    gen = generator(dev, sched.seed + 11)
    ckpt_path = os.path.join(work, 'ckpt', 'joint.pt')
    ck = load_checkpoint(ckpt_path)
    if ck is None and warm_dir:
        for k, m in nets.items():
            load_shipped(m, warm_dir, k)
        log(f'joint: warm start from {warm_dir}')
    emas = {k: EMA(m, sched.ema_decay) for k, m in nets.items()}
    def load_weights(c):
        for k, m in nets.items():
            m.load_state_dict(c['model'][k])
            emas[k].model.load_state_dict(c['ema'][k])

    start = resume(ck, opt, gen, load_weights)
    if ck:
        log(f'joint: resumed at step {start}')
    timer = Throughput()
    acc = torch.zeros(2, device=dev)
    for step in range(start, sched.joint_steps):
        for g in opt.param_groups:
            g['lr'] = lr_at(step, sched.joint_steps, sched.joint_lr, sched.warmup)
        idx = data.sample_images(sched.joint_batch, gen, sched.pair_probability)
        ids = data.sample_captions(idx, gen, sched.caption_dropout, sched.word_dropout)
        xt, t, target = training_pair(latents[idx], gen)
        with torch.autocast('cuda', dtype=torch.bfloat16, enabled=dev.type == 'cuda'):
            tokens, pooled, mask = text(ids)
            v_dit = dit(xt, t, tokens, mask, pooled)
            v_dico = dico(xt, t, tokens, mask, pooled)
        loss_dit = F.mse_loss(v_dit.float(), target)
        loss_dico = F.mse_loss(v_dico.float(), target)
        loss = loss_dit + loss_dico
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        for k, m in nets.items():
            emas[k].update(m, step)
        acc += torch.stack([loss_dit.detach(), loss_dico.detach()])
        timer.tick()
        if (step + 1) % sched.log_every == 0 or step == start:
            n = 1 if step == start else sched.log_every
            a = (acc / n).tolist()
            acc.zero_()
            log(f'joint step {step + 1}/{sched.joint_steps} loss dit {a[0]:.4f} dico {a[1]:.4f} ({timer.rate():.2f} it/s)')
        if (step + 1) % sched.checkpoint_every == 0 or step + 1 == sched.joint_steps:
            save_checkpoint(ckpt_path, {
                'step': step + 1,
                'model': {k: m.state_dict() for k, m in nets.items()},
                'ema': {k: e.model.state_dict() for k, e in emas.items()},
                'opt': opt.state_dict(), 'rng': rng_state(gen),
            })
    save_checkpoint(final, {'ema': {k: e.model.state_dict() for k, e in emas.items()}, 'vocab': data.vocab})
    log('joint: done')
