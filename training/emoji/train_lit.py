"""Phase 3: emoji-LiT by LiT's recipe: weights inherited from the trained emoji-DiT except the
self-attention q/k/v, then trained with the flow loss plus distillation towards the DiT teacher's
velocity. The text encoder is frozen (shared with the other models)."""
import os

import torch
import torch.nn.functional as F

from .common import EMA, Throughput, count_params, generator, load_checkpoint, log, lr_at, resume, rng_state, save_checkpoint
from .config import DiTConfig, TextConfig
from .dit import EmojiDiT, inherit_from_dit
from .flow import training_pair
from .text import TextEncoder
from .train_ae import encode_all
from .train_joint import load_autoencoder
from .warm_start import load_shipped

LIT = DiTConfig(self_attention='relu-linear')


def run(data, work: str, sched, dev, warm_dir=None):
    final = os.path.join(work, 'lit_final.pt')
    if os.path.exists(final):
        log('lit: done already')
        return
    latents = encode_all(load_autoencoder(work, dev), data)
    joint = torch.load(os.path.join(work, 'joint_final.pt'), map_location='cpu')
    text = TextEncoder(TextConfig(vocab_size=len(data.vocab))).to(dev)
    text.load_state_dict(joint['ema']['text'])
    text.eval().requires_grad_(False)
    teacher = EmojiDiT(DiTConfig()).to(dev)
    teacher.load_state_dict(joint['ema']['dit'])
    teacher.eval().requires_grad_(False)
    torch.manual_seed(sched.seed + 20)
    lit = EmojiDiT(LIT).to(dev)
    ck = load_checkpoint(os.path.join(work, 'ckpt', 'lit.pt'))
    if ck is None and warm_dir:
        load_shipped(lit, warm_dir, 'lit')
        log(f'lit: warm start from {warm_dir}')
    elif ck is None:
        fresh = inherit_from_dit(lit, teacher)
        log(f'lit: inherited from DiT; fresh: {fresh}')
    log(f'lit: {count_params(lit):,} params')
    opt = torch.optim.AdamW(lit.parameters(), lr=sched.lit_lr, weight_decay=0.0, betas=(0.9, 0.99), fused=dev.type == 'cuda')
    ema = EMA(lit, sched.ema_decay)
    gen = generator(dev, sched.seed + 21)
    def load_weights(c):
        lit.load_state_dict(c['model'])
        ema.model.load_state_dict(c['ema'])

    start = resume(ck, opt, gen, load_weights)
    if ck:
        log(f'lit: resumed at step {start}')
    timer = Throughput()
    acc = torch.zeros(2, device=dev)
    for step in range(start, sched.lit_steps):
        for g in opt.param_groups:
            g['lr'] = lr_at(step, sched.lit_steps, sched.lit_lr, sched.warmup)
        idx = data.sample_images(sched.lit_batch, gen, sched.pair_probability)
        ids = data.sample_captions(idx, gen, sched.caption_dropout, sched.word_dropout)
        xt, t, target = training_pair(latents[idx], gen)
        with torch.autocast('cuda', dtype=torch.bfloat16, enabled=dev.type == 'cuda'):
            with torch.no_grad():
                tokens, pooled, mask = text(ids)
                v_teacher = teacher(xt, t, tokens, mask, pooled).float()
            v = lit(xt, t, tokens, mask, pooled).float()
        loss_flow = F.mse_loss(v, target)
        loss_kd = F.mse_loss(v, v_teacher)
        loss = loss_flow + sched.lit_distill_weight * loss_kd
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(lit.parameters(), 1.0)
        opt.step()
        ema.update(lit, step)
        acc += torch.stack([loss_flow.detach(), loss_kd.detach()])
        timer.tick()
        if (step + 1) % sched.log_every == 0 or step == start:
            n = 1 if step == start else sched.log_every
            a = (acc / n).tolist()
            acc.zero_()
            log(f'lit step {step + 1}/{sched.lit_steps} flow {a[0]:.4f} kd {a[1]:.4f} ({timer.rate():.2f} it/s)')
        if (step + 1) % sched.checkpoint_every == 0 or step + 1 == sched.lit_steps:
            save_checkpoint(os.path.join(work, 'ckpt', 'lit.pt'), {
                'step': step + 1, 'model': lit.state_dict(), 'ema': ema.model.state_dict(),
                'opt': opt.state_dict(), 'rng': rng_state(gen),
            })
    save_checkpoint(final, {'ema': ema.model.state_dict()})
    log('lit: done')
