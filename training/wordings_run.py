"""Issue 20 on the GPU, one time-boxed command: the text encoder learns the project's wordings
(training/dataset/wordings.mjs) with the three shipped denoisers as judges, a 2x upsampler learns
64->128, and a recogniser learns every real emoji at 32x32; then held-out wordings are scored and
the new weights, parity files, scores and contact sheets are written to --out as they are ready.

Text objective (the denoisers and the old encoder are frozen): for a training wording w of emoji e
and its name n, the student's encoding of w must make DiT, LiT and DiCo predict the velocity the old
encoder's n makes them predict, on noisy latents of e drawn by the old pipeline; and the student's
encoding of n stays the old one (tokens and pooled). New words get rows initialised from <unk>.

  python3 training/wordings_run.py --data DIR --assets assets/models --out OUT [--seconds 110] [--smoke]
"""
import argparse
import gzip
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from emoji.classifier import EmojiClassifier  # noqa: E402
from emoji.common import device, generator, log  # noqa: E402
from emoji.config import DiCoConfig, DiTConfig, TextConfig, VAEConfig  # noqa: E402
from emoji.dico import EmojiDiCo  # noqa: E402
from emoji.dit import EmojiDiT  # noqa: E402
from emoji.flow import sample  # noqa: E402
from emoji.text import UNK, TextEncoder, Tokenizer  # noqa: E402
from emoji.upsampler import Upsampler2x  # noqa: E402
from emoji.vae import AutoEncoder  # noqa: E402
from emoji.warm_start import load_shipped  # noqa: E402

LIT = DiTConfig(self_attention='relu-linear')
FAMILIES = ('dit', 'lit', 'dico')
STYLES = ('noto', 'twemoji')
PARITY_PROMPTS = ['a cat face and a slice of pizza, twemoji style', '']
CONTACT_PROMPTS = 16


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', required=True)
    ap.add_argument('--assets', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--seconds', type=float, default=110.0, help='training time for the three learners together')
    ap.add_argument('--smoke', action='store_true', help='a few steps and a small evaluation: checks the whole script')
    a = ap.parse_args()
    t_start = time.time()
    dev = device()
    torch.manual_seed(20)
    os.makedirs(a.out, exist_ok=True)
    with gzip.open(os.path.join(a.data, 'wordings.json.gz')) as f:
        meta = json.load(f)
    with open(os.path.join(a.assets, 'emoji-text', 'words.json')) as f:
        old_vocab = json.load(f)
    vocab = old_vocab + meta['added']
    old_tok, tok = Tokenizer(old_vocab, 24), Tokenizer(vocab, 24)
    items = meta['items']
    samplers = {k: json.load(open(os.path.join(a.assets, f'emoji-{k}', 'config.json')))['sampler'] for k in FAMILIES}

    teacher = shipped(TextEncoder(TextConfig(vocab_size=len(old_vocab))), a.assets, 'text', dev)
    student = TextEncoder(TextConfig(vocab_size=len(vocab))).to(dev)
    with torch.no_grad():
        state = {k: v.clone() for k, v in teacher.state_dict().items()}
        emb = state['token_embedding.weight']
        state['token_embedding.weight'] = torch.cat([emb, emb[UNK:UNK + 1].repeat(len(meta['added']), 1)])
        student.load_state_dict(state)
    nets = {
        'dit': shipped(EmojiDiT(DiTConfig()), a.assets, 'dit', dev),
        'lit': shipped(EmojiDiT(LIT), a.assets, 'lit', dev),
        'dico': shipped(EmojiDiCo(DiCoConfig()), a.assets, 'dico', dev),
    }
    vae = shipped(AutoEncoder(VAEConfig()), a.assets, 'vae', dev)
    log(f'loaded: vocab {len(old_vocab)} -> {len(vocab)}, {len(items)} emoji, {sum(len(i["train"]) for i in items)} wordings, {time.time() - t_start:.1f}s')

    # 1. Latents and images of every trained emoji, drawn by the old pipeline from its name (both styles).
    g = generator(dev, 1)
    labels = [it['label'] for it in items]
    bank_text = [f'{n}, {s} style' for s in STYLES for n in labels]
    if a.smoke:
        bank_text = bank_text[:64]
    bank = []
    for chunk in batches(bank_text, 1024):
        enc = encode(teacher, old_tok, chunk, dev)
        noise = torch.randn(len(chunk), 4, 16, 16, device=dev, generator=g)
        s = samplers['dit']
        with torch.autocast('cuda', dtype=torch.bfloat16, enabled=dev.type == 'cuda'):
            bank.append(sample(nets['dit'], noise, enc, encode(teacher, old_tok, [''] * len(chunk), dev), s['steps'], s['cfg'], s['shift']).float())
    bank = torch.cat(bank)
    with torch.no_grad():
        bank_images = torch.cat([vae.decode(z).clamp(-1, 1) for z in bank.split(512)])
    bank_class = torch.arange(len(bank_text), device=dev) % len(labels)
    log(f'bank: {bank.shape[0]} latents and images, {time.time() - t_start:.1f}s')

    # 2. Real images at 32x32 (both styles) for the recogniser; class = index in meta['classes'].
    real = torch.cat([atlas(os.path.join(a.data, f'real32-{s}.png'), len(meta['classes']), meta['tile']) for s in STYLES]).to(dev)
    real_class = torch.arange(real.shape[0], device=dev) % len(meta['classes'])
    class_of_label = {c['label']: i for i, c in enumerate(meta['classes']) if not c['heldOut']}

    # 3. The three learners, one step each per iteration, until the time is up.
    up = Upsampler2x().to(dev)
    rec = EmojiClassifier(len(meta['classes'])).to(dev)
    opts = {
        'text': torch.optim.AdamW(student.parameters(), lr=3e-4, weight_decay=0.0),
        'up': torch.optim.AdamW(up.parameters(), lr=1e-3, weight_decay=0.0),
        'rec': torch.optim.AdamW(rec.parameters(), lr=2e-3, weight_decay=0.05),
    }
    base_lr = {k: o.param_groups[0]['lr'] for k, o in opts.items()}
    budget = 8.0 if a.smoke else a.seconds
    t0 = time.time()
    step = 0
    last_save = t0
    losses = {'text': 0.0, 'anchor': 0.0, 'up': 0.0, 'rec': 0.0}
    while time.time() - t0 < budget:
        frac = (time.time() - t0) / budget
        for k, o in opts.items():
            o.param_groups[0]['lr'] = base_lr[k] * min(1.0, (step + 1) / 50) * (1.0 - 0.9 * frac)
        # One judge per step, in turn: three times the steps for the same time.
        lt, la = text_step(student, teacher, nets[FAMILIES[step % 3]], tok, old_tok, items, bank, dev, g, 64 if a.smoke else 512)
        opts['text'].zero_grad(set_to_none=True)
        (lt + la).backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opts['text'].step()
        lu = up_step(up, bank_images, g, 128)
        opts['up'].zero_grad(set_to_none=True)
        lu.backward()
        opts['up'].step()
        lr_ = rec_step(rec, real, real_class, g, 512)
        opts['rec'].zero_grad(set_to_none=True)
        lr_.backward()
        opts['rec'].step()
        for k, v in (('text', lt), ('anchor', la), ('up', lu), ('rec', lr_)):
            losses[k] = 0.98 * losses[k] + 0.02 * v.item() if step else v.item()
        step += 1
        if step % 100 == 0:
            log(f'step {step} {time.time() - t0:.0f}s ' + ' '.join(f'{k} {v:.4f}' for k, v in losses.items()))
        if time.time() - last_save > 30:
            save_file(fp16(student), os.path.join(a.out, 'text-checkpoint.safetensors'))
            save_file(fp16(up), os.path.join(a.out, 'upsampler-checkpoint.safetensors'))
            last_save = time.time()
    log(f'training: {step} steps in {time.time() - t0:.0f}s ({step / (time.time() - t0):.1f} it/s); ' + ' '.join(f'{k} {v:.4f}' for k, v in losses.items()))
    student.eval()
    up.eval()
    rec.eval()
    round_fp16(student)
    round_fp16(up)
    export(a, student, up, vocab, dev)
    log(f'exported at {time.time() - t_start:.0f}s')

    # 4. Scores: held-out wordings and the same emoji's names, old and new encoder, 64 and 128 px.
    evals = meta['eval'][:48] if a.smoke else meta['eval']
    truth = torch.tensor([class_of_label[e['label']] for e in evals], device=dev)
    results = {'steps': step, 'train_seconds': round(time.time() - t0, 1), 'losses': losses, 'eval_wordings': len(evals),
               'recogniser_real_top1': accuracy(rec, real, real_class)[0],
               'recogniser_bank_top1': accuracy(rec, F.avg_pool2d(bank_images, 2), torch.tensor([class_of_label[labels[i]] for i in bank_class.tolist()], device=dev))[0],
               'unknown_word_wordings': sum(1 for e in evals if UNK in tok.encode(e['wording'])), 'scores': {}}
    contact = {}
    for fam in FAMILIES:
        for enc_name, enc, tk in (('old', teacher, old_tok), ('new', student, tok)):
            for prompts_name, prompts in (('wordings', [e['wording'] for e in evals]), ('names', [e['label'] for e in evals])):
                img64 = draw(nets[fam], vae, enc, tk, prompts, samplers[fam], dev)
                with torch.no_grad():
                    img128 = torch.cat([up(x).clamp(-1, 1) for x in img64.split(256)])
                for size, img, pool in ((64, img64, 2), (128, img128, 4)):
                    t1, t5 = accuracy(rec, F.avg_pool2d(img, pool), truth)
                    results['scores'][f'{fam}/{enc_name}/{prompts_name}/{size}'] = {'top1': t1, 'top5': t5}
                if prompts_name == 'wordings':
                    contact[(fam, enc_name, 64)] = img64[:CONTACT_PROMPTS]
                    contact[(fam, enc_name, 128)] = img128[:CONTACT_PROMPTS]
        log(f'eval {fam}: ' + ' '.join(f'{k.split("/", 1)[1]} {v["top1"]:.3f}/{v["top5"]:.3f}' for k, v in results['scores'].items() if k.startswith(fam)))
    with open(os.path.join(a.out, 'results.json'), 'w') as f:
        json.dump(results, f, indent=1)
    contact_sheets(a.out, contact, [e['wording'] for e in evals[:CONTACT_PROMPTS]])
    log(f'ALL DONE in {time.time() - t_start:.0f}s')


def shipped(module, assets, kind, dev):
    load_shipped(module, assets, kind)
    return round_fp16(module).to(dev).eval().requires_grad_(False)


def round_fp16(module):
    with torch.no_grad():
        for t in module.state_dict().values():
            if t.is_floating_point():
                t.copy_(t.half().float())
    return module


def fp16(module):
    return {k: v.detach().half().contiguous().cpu() for k, v in module.state_dict().items()}


def batches(xs, n):
    return [xs[i:i + n] for i in range(0, len(xs), n)]


def as_condition(encoded):
    """TextEncoder gives (tokens, pooled, mask); the denoisers and the sampler take (tokens, mask, pooled)."""
    tokens, pooled, mask = encoded
    return tokens, mask, pooled


def encode(text_encoder, tok, texts, dev):
    with torch.no_grad():
        return as_condition(text_encoder(tok.batch(texts).to(dev)))


def atlas(path, count, tile):
    pixels = np.asarray(Image.open(path).convert('RGB'), dtype=np.float32) / 127.5 - 1.0
    cols = pixels.shape[1] // tile
    tiles = [pixels[(i // cols) * tile:(i // cols + 1) * tile, (i % cols) * tile:(i % cols + 1) * tile] for i in range(count)]
    return torch.from_numpy(np.stack(tiles)).permute(0, 3, 1, 2).contiguous()


def text_step(student, teacher, net, tok, old_tok, items, bank, dev, g, batch):
    pick = torch.randint(0, bank.shape[0], (batch,), generator=g, device=dev)
    rng = np.random.default_rng(int(torch.randint(0, 2**31, (1,), generator=g, device=dev).item()))
    inputs, targets = [], []
    for b in pick.tolist():
        it = items[b % len(items)]  # the bank holds every emoji once per style, in items order
        style = STYLES[b // len(items)] if b < 2 * len(items) else STYLES[0]
        r = rng.random()
        if r < 0.05:
            w, n = '', ''
        else:
            w = it['label'] if r < 0.2 or not it['train'] else it['train'][rng.integers(len(it['train']))]
            n = it['label']
            if rng.random() < 0.3:
                w, n = f'{w}, {style} style', f'{n}, {style} style'
        inputs.append(w)
        targets.append(n)
    x0 = bank[pick]
    t = torch.sigmoid(torch.randn(batch, device=dev, generator=g))
    eps = torch.randn(x0.shape, device=dev, generator=g)
    xt = (1 - t[:, None, None, None]) * x0 + t[:, None, None, None] * eps
    target_text = encode(teacher, old_tok, targets, dev)
    new_text = as_condition(student(tok.batch(inputs).to(dev)))
    anchor_text = as_condition(student(tok.batch(targets).to(dev)))
    with torch.autocast('cuda', dtype=torch.bfloat16, enabled=dev.type == 'cuda'):
        with torch.no_grad():
            v_teacher = net(xt, t, *target_text).float()
        loss = F.mse_loss(net(xt, t, *new_text).float(), v_teacher)
    mask = target_text[1][..., None].float()
    anchor = ((anchor_text[0] - target_text[0]) ** 2 * mask).sum() / (mask.sum() * anchor_text[0].shape[-1]) + F.mse_loss(anchor_text[2], target_text[2])
    return loss, anchor


def up_step(up, images, g, batch):
    pick = torch.randint(0, images.shape[0], (batch,), generator=g, device=images.device)
    hi = images[pick]
    if torch.rand(1, generator=g, device=images.device).item() < 0.5:
        hi = hi.flip(3)
    lo = F.avg_pool2d(hi, 2)
    return F.l1_loss(up(lo), hi)


def rec_step(rec, real, real_class, g, batch):
    dev = real.device
    pick = torch.randint(0, real.shape[0], (batch,), generator=g, device=dev)
    x = real[pick]
    # Shifts of up to 2 px, and blur of random strength (generated images are softer than real ones).
    dx, dy = (int(v) for v in torch.randint(-2, 3, (2,), generator=g, device=dev).tolist())
    x = torch.roll(F.pad(x, (2, 2, 2, 2), value=1.0), (dy, dx), dims=(2, 3))[..., 2:-2, 2:-2]
    blur = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode='replicate'), 3, stride=1)
    mix = torch.rand(batch, 1, 1, 1, generator=g, device=dev)
    x = mix * blur + (1 - mix) * x
    x = x + 0.03 * torch.randn(x.shape, generator=g, device=dev)
    with torch.autocast('cuda', dtype=torch.bfloat16, enabled=dev.type == 'cuda'):
        return F.cross_entropy(rec(x).float(), real_class[pick], label_smoothing=0.1)


@torch.no_grad()
def accuracy(rec, images, truth):
    logits = torch.cat([rec(x).float() for x in images.split(1024)])
    top5 = logits.topk(5, dim=1).indices
    return (top5[:, 0] == truth).float().mean().item(), (top5 == truth[:, None]).any(1).float().mean().item()


@torch.no_grad()
def draw(net, vae, enc, tk, prompts, s, dev):
    g = generator(dev, 7)
    out = []
    for chunk in batches(prompts, 512):
        noise = torch.randn(len(chunk), 4, 16, 16, device=dev, generator=g)
        with torch.autocast('cuda', dtype=torch.bfloat16, enabled=dev.type == 'cuda'):
            z = sample(net, noise, encode(enc, tk, chunk, dev), encode(enc, tk, [''] * len(chunk), dev), s['steps'], s['cfg'], s['shift']).float()
        out.append(vae.decode(z).clamp(-1, 1))
    return torch.cat(out)


@torch.no_grad()
def export(a, student, up, vocab, dev):
    text_dir = os.path.join(a.out, 'emoji-text')
    up_dir = os.path.join(a.out, 'emoji-upsampler')
    os.makedirs(text_dir, exist_ok=True)
    os.makedirs(up_dir, exist_ok=True)
    cpu_student = TextEncoder(TextConfig(vocab_size=len(vocab)))
    cpu_student.load_state_dict({k: v.cpu() for k, v in student.state_dict().items()})
    save_file(fp16(cpu_student), os.path.join(text_dir, 'model.safetensors'))
    with open(os.path.join(text_dir, 'words.json'), 'w') as f:
        json.dump(vocab, f)
    ids = Tokenizer(vocab, 24).batch(PARITY_PROMPTS)
    tokens, pooled, mask = cpu_student(ids)
    save_file({'ids': ids.to(torch.int32), 'tokens': tokens.contiguous(), 'pooled': pooled.contiguous(), 'mask': mask.float()},
              os.path.join(text_dir, 'parity.safetensors'), metadata={'model': 'emoji-text', 'prompts': json.dumps(PARITY_PROMPTS)})
    cpu_up = Upsampler2x()
    cpu_up.load_state_dict({k: v.cpu() for k, v in up.state_dict().items()})
    save_file(fp16(cpu_up), os.path.join(up_dir, 'model.safetensors'))
    g = torch.Generator().manual_seed(3)
    image = torch.rand(2, 3, 64, 64, generator=g) * 2 - 1
    save_file({'image': image, 'upsampled': cpu_up(image).contiguous()}, os.path.join(up_dir, 'parity.safetensors'), metadata={'model': 'emoji-upsampler'})
    with open(os.path.join(up_dir, 'config.json'), 'w') as f:
        json.dump({'architecture': 'emoji-upsampler', 'format_version': 1, 'scale': 2, 'channels': cpu_up.channels,
                   'blocks': len(cpu_up.blocks), 'input_size': 64}, f, indent=2)


def contact_sheets(out, images, prompts):
    for size in (64, 128):
        rows = [images[(fam, enc, size)] for fam in FAMILIES for enc in ('old', 'new')]
        grid = torch.stack(rows)  # [rows, cols, 3, s, s]
        r, c = grid.shape[:2]
        pixels = ((grid.permute(0, 3, 1, 4, 2).reshape(r * size, c * size, 3) + 1) * 127.5).round().clamp(0, 255).byte().cpu().numpy()
        Image.fromarray(pixels).save(os.path.join(out, f'contact-{size}.png'), optimize=True)
    with open(os.path.join(out, 'contact-prompts.txt'), 'w') as f:
        f.write('\n'.join(prompts) + '\n')


if __name__ == '__main__':
    main()
