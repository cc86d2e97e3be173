"""Phase 4: quality of the three denoisers, judged by the recogniser: a sampler sweep on validation
prompts picks each model's defaults, then top-1/top-5 and the Frechet distance on the recogniser's
features for held-out and training prompts, left/right pair recognition, and contact sheets."""
import json
import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .classifier import EmojiClassifier
from .common import log
from .flops import per_image
from .flow import sample
from .models import DENOISERS, load_all

CONTACT_FIXED = [
    'grinning face, noto style', 'grinning face, twemoji style', 'a smiling cat face', 'cat face, twemoji style',
    'dog face', 'red heart', 'pizza', 'rocket', 'sun', 'snowman', 'fire', 'thumbs up', 'rainbow', 'flag japan',
    'flag france', 'hamburger', 'birthday cake', 'ghost', 'robot', 'evergreen tree', 'face with tears of joy',
    'pile of poo', 'unicorn', 'crown',
]
CONTACT_PAIRS = [
    'a cat face and a slice of pizza', 'a red heart and a rocket', 'a dog face and a red apple', 'a sun and a snowman',
    'a ghost and a jack o lantern', 'a robot and a rainbow', 'a crown and a trophy', 'a fire and a droplet',
    'a grinning face and a thumbs up', 'a banana and a hot beverage', 'a unicorn and a star', 'a rocket and a full moon',
    'a pizza and a hamburger', 'flag japan and flag france', 'a snake and a cookie', 'a panda and a bamboo',
]
CONTACT_FREE = [
    'a yellow star', 'a blue car', 'a green apple', 'an angry face', 'a heart with a ribbon',
    'a birthday cake in twemoji style', 'a sad face, noto style', 'a smiling sun with sunglasses',
]
STYLES = ('noto', 'twemoji')


def prompt_for(label: str, style: str) -> str:
    return f'{label}, {style} style'


def contact_prompts(data) -> list:
    classes = data.meta['classes']
    held = [prompt_for(classes[c]['label'], STYLES[i % 2]) for i, c in enumerate(data.heldout_classes[:16])]
    return CONTACT_FIXED + held + CONTACT_PAIRS + CONTACT_FREE


class Judge:
    def __init__(self, work, num_classes, dev):
        self.clf = EmojiClassifier(num_classes).to(dev)
        self.clf.load_state_dict(torch.load(os.path.join(work, 'classifier_final.pt'), map_location='cpu')['model'])
        self.clf.eval().requires_grad_(False)

    @torch.no_grad()
    def __call__(self, images):
        feats, logits = [], []
        for i in range(0, images.shape[0], 1024):
            f = self.clf.features(images[i:i + 1024].clamp(-1, 1))
            feats.append(f.double().cpu())
            logits.append(self.clf.head(f).float().cpu())
        return torch.cat(logits), torch.cat(feats)


def topk(logits, labels) -> dict:
    top5 = logits.topk(5, dim=1).indices
    labels = torch.as_tensor(labels)
    return {'top1': float((top5[:, 0] == labels).float().mean()), 'top5': float((top5 == labels[:, None]).any(1).float().mean())}


def frechet(a: torch.Tensor, b: torch.Tensor) -> float:
    """|mu1-mu2|^2 + tr(S1) + tr(S2) - 2 tr(sqrt(S1 S2)); the trace term via the eigenvalues of the
    symmetric sqrt(S1) S2 sqrt(S1), which has the same spectrum as S1 S2."""
    a, b = a.numpy(), b.numpy()
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    eig = np.linalg.eigvalsh(root1 @ s2 @ root1)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.clip(eig, 0, None)).sum())


class Generator:
    def __init__(self, nets, tokenizer, dev):
        self.nets, self.tok, self.dev = nets, tokenizer, dev

    @torch.no_grad()
    def __call__(self, name, prompts, seeds, steps, cfg, shift, batch=512):
        out = []
        for i in range(0, len(prompts), batch):
            ps, ss = prompts[i:i + batch], seeds[i:i + batch]
            ids = self.tok.batch(ps).to(self.dev)
            empty = self.tok.batch([''] * len(ps)).to(self.dev)
            (tc, pc, mc), (tu, pu, mu) = self.nets['text'](ids), self.nets['text'](empty)
            cond, uncond = (tc, mc, pc), (tu, mu, pu)
            noise = torch.stack([torch.randn(4, 16, 16, generator=torch.Generator().manual_seed(int(s))) for s in ss]).to(self.dev)
            z = sample(self.nets[name], noise, cond, uncond, steps, cfg, shift)
            out.append(self.nets['vae'].decode(z).clamp(-1, 1))
        return torch.cat(out)


def save_sheet(images: torch.Tensor, path: str, cols: int = 8):
    imgs = ((images.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    n, h, w, _ = imgs.shape
    rows = (n + cols - 1) // cols
    sheet = np.full((rows * h, cols * w, 3), 255, dtype=np.uint8)
    for i, im in enumerate(imgs):
        sheet[(i // cols) * h:(i // cols + 1) * h, (i % cols) * w:(i % cols + 1) * w] = im
    Image.fromarray(sheet).save(path, optimize=True)


def halves(images):
    """Left and right 32x32 squares of a pair composition (rows 16..47), upscaled to 64x64."""
    left = F.interpolate(images[:, :, 16:48, 0:32], scale_factor=2.0, mode='bilinear', align_corners=False)
    right = F.interpolate(images[:, :, 16:48, 32:64], scale_factor=2.0, mode='bilinear', align_corners=False)
    return left, right


def run(data, work: str, sched, dev, out_docs: str):
    path = os.path.join(work, 'eval', 'results.json')
    if os.path.exists(path):
        log('eval: done already')
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    os.makedirs(out_docs, exist_ok=True)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    nets = load_all(work, len(data.vocab), dev)
    judge = Judge(work, data.num_classes, dev)
    gen = Generator(nets, data.tokenizer, dev)
    classes = data.meta['classes']
    rng = np.random.RandomState(sched.seed + 40)
    train_cls = rng.permutation(data.train_classes.cpu().numpy())
    val_cls = train_cls[:sched.eval_val_classes]
    report_cls = train_cls[sched.eval_val_classes:sched.eval_val_classes + sched.eval_train_classes]
    held_cls = np.array(data.heldout_classes)

    def prompt_set(cls_list, seeds_per):
        prompts, labels, seeds = [], [], []
        for c in cls_list:
            for s, style in enumerate(STYLES):
                for k in range(seeds_per):
                    prompts.append(prompt_for(classes[c]['label'], style))
                    labels.append(int(c))
                    seeds.append(1000 * int(c) + 10 * s + k)
        return prompts, labels, seeds

    def real_features(cls_list):
        idx = [i for c in cls_list for i in data.singles_by_class[c]]
        return judge(data.pixels(torch.tensor(idx, device=dev)))[1]

    val = prompt_set(val_cls, 1)
    sets = {'heldout': prompt_set(held_cls, sched.eval_heldout_seeds), 'train': prompt_set(report_cls, 1)}
    real = {'heldout': real_features(held_cls), 'train': real_features(report_cls)}

    # References: what the recogniser does on real images and on autoencoder reconstructions.
    reference = {}
    for name, cls_list in (('heldout', held_cls), ('train', report_cls)):
        idx = torch.tensor([i for c in cls_list for i in data.singles_by_class[c]], device=dev)
        x = data.pixels(idx)
        labels = data.image_class[idx.cpu()]
        lr_, fr = judge(x)
        lrec, frec = judge(nets['vae'].decode(nets['vae'].encode(x)))
        reference[name] = {'real': topk(lr_, labels), 'reconstructed': topk(lrec, labels), 'fd_reconstructed_vs_real': frechet(frec, fr), 'images': len(idx)}
    log(f'eval: reference {reference}')

    rng_pairs = np.random.RandomState(sched.seed + 41)
    short = np.array([c for c in report_cls if len(classes[c]['label'].split()) <= 5])  # as in the pair captions
    pair_l = rng_pairs.choice(short, sched.eval_pairs)
    pair_r = rng_pairs.choice(short, sched.eval_pairs)
    pair_prompts = [f"{classes[a]['label']} and {classes[b]['label']}, {STYLES[i % 2]} style" for i, (a, b) in enumerate(zip(pair_l, pair_r))]
    real_pairs = data.pixels(data.pair_images[:512])
    rp_l, rp_r = halves(real_pairs)
    pair_meta = [data.meta['images'][i] for i in data.pair_images[:512].tolist()]
    ref_left = topk(judge(rp_l)[0], [m['cls'] for m in pair_meta])
    ref_right = topk(judge(rp_r)[0], [m['cls2'] for m in pair_meta])
    reference['pairs_real'] = {'left': ref_left, 'right': ref_right}

    results = {'reference': reference, 'models': {}}
    sheet_prompts = contact_prompts(data)
    for name in DENOISERS:
        sweep = []
        for steps in sched.sweep_steps:
            for cfg in sched.sweep_cfg:
                for shift in sched.sweep_shift:
                    imgs = gen(name, val[0], val[2], steps, cfg, shift)
                    m = topk(judge(imgs)[0], val[1])
                    sweep.append({'steps': steps, 'cfg': cfg, 'shift': shift, **m})
        unit = per_image(nets, name, 1, data.tokenizer.max_len)
        affordable = [s for s in sweep if unit['total'] + (s['steps'] - 1) * unit['denoiser_per_step_with_cfg'] <= sched.flop_budget] or sweep
        best = max(s['top1'] for s in affordable)
        near = [s for s in affordable if s['top1'] >= best - 0.02]
        chosen = min(near, key=lambda s: (s['steps'], -s['top1']))
        steps, cfg, shift = chosen['steps'], chosen['cfg'], chosen['shift']
        log(f'eval {name}: sweep {sweep}; default steps {steps} cfg {cfg} shift {shift}')
        entry = {'sampler': {'steps': steps, 'cfg': cfg, 'shift': shift}, 'sweep': sweep}
        for set_name, (prompts, labels, seeds) in sets.items():
            imgs = gen(name, prompts, seeds, steps, cfg, shift)
            logits, feats = judge(imgs)
            entry[set_name] = {**topk(logits, labels), 'fd': frechet(feats, real[set_name]), 'images': len(prompts)}
        imgs = gen(name, pair_prompts, list(range(len(pair_prompts))), steps, cfg, shift)
        gl, gr = halves(imgs)
        left, right = topk(judge(gl)[0], pair_l.tolist()), topk(judge(gr)[0], pair_r.tolist())
        entry['pairs'] = {'left': left, 'right': right}
        entry['flops'] = per_image(nets, name, steps, data.tokenizer.max_len)
        entry['params'] = sum(p.numel() for p in nets[name].parameters())
        save_sheet(gen(name, sheet_prompts, list(range(len(sheet_prompts))), steps, cfg, shift), os.path.join(out_docs, f'emoji-{name}-contact.png'))
        results['models'][name] = entry
        log(f"eval {name}: {json.dumps({k: v for k, v in entry.items() if k != 'sweep'})}")
    results['params'] = {k: sum(p.numel() for p in m.parameters()) for k, m in nets.items()}
    results['contact_prompts'] = sheet_prompts
    with open(os.path.join(out_docs, 'emoji-contact-prompts.txt'), 'w') as f:
        f.write('Contact sheets docs/emoji-{dit,lit,dico}-contact.png: 8x8, row-major, one image per prompt (seed = index).\n')
        f.write('\n'.join(f'{i:2d} {p}' for i, p in enumerate(sheet_prompts)) + '\n')
    with open(path, 'w') as f:
        json.dump(results, f, indent=1)
    log('eval: done')
