"""IR-Diffusion on the emoji-DiT, scored by the evaluation recogniser (issue 7). One device call:

  1. the recogniser (emoji/train_classifier.py, unchanged) is trained on the pack written by
     training/eval_ir_pack.mjs (every single image; the autoencoder is the shipped emoji-vae), or
     loaded from --classifier (the fp16 safetensors a previous call saved);
  2. the story images written by training/eval_ir_stories.ts are scored per variant (off / ir / ...):
     - consistency: mean cosine similarity, in the recogniser's pooled features, of each subject's
       crops (its box, upscaled to 64x64 as evaluate.halves does) across the story's scenes;
     - ref similarity: the same between each scene crop and the subject's reference image;
     - both recognisable: share of two-subject scenes where each subject's class is in the top-5
       of its own crop (the opposite of subject fusion);
     - top-1 of each crop;
     and the real pairs in the pack give the crop protocol's ceiling for the last two.

  python3 training/eval_ir.py --pack .cache/ir-eval/device/eval.pack --images .cache/ir-eval/device \
      --work /root/ireval --out $OUT [--steps 2500] [--classifier FILE]

With --classifier, the pack may be the pairs-only one (eval_ir_pack.mjs --pairs-only, ~1 MB).
"""
import argparse
import dataclasses
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from emoji import train_classifier  # noqa: E402
from emoji.classifier import EmojiClassifier  # noqa: E402
from emoji.common import device, log  # noqa: E402
from emoji.config import FULL, TextConfig, VAEConfig  # noqa: E402
from emoji.data import EmojiData  # noqa: E402
from emoji.evaluate import Judge  # noqa: E402
from emoji.vae import AutoEncoder  # noqa: E402
from emoji.warm_start import load_shipped  # noqa: E402

ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'assets', 'models')
PAIR_LEFT, PAIR_RIGHT = (0, 0.25, 0.5, 0.75), (0.5, 0.25, 1, 0.75)


def prepare_work(work: str, classifier: str, num_classes: int):
    """ae_final.pt from the shipped autoencoder; classifier_final.pt from --classifier when given."""
    os.makedirs(os.path.join(work, 'ckpt'), exist_ok=True)
    ae_final = os.path.join(work, 'ae_final.pt')
    if not os.path.exists(ae_final):
        ae = AutoEncoder(VAEConfig())
        load_shipped(ae, ASSETS, 'vae')
        torch.save({'model': ae.state_dict()}, ae_final)
    if classifier:
        from safetensors import safe_open
        from safetensors.torch import load_file
        with safe_open(classifier, 'pt') as f:
            report = json.loads((f.metadata() or {}).get('report', '{}'))
        model = EmojiClassifier(num_classes)
        model.load_state_dict({k: v.to(model.state_dict()[k].dtype) for k, v in load_file(classifier).items()})
        torch.save({'model': model.state_dict(), 'report': report}, os.path.join(work, 'classifier_final.pt'))


def add_to_report(work: str, extra: dict):
    path = os.path.join(work, 'classifier_final.pt')
    ck = torch.load(path, map_location='cpu', weights_only=False)
    ck['report'] = {**extra, **ck['report']}  # a report from an earlier run in this folder stays as it was
    torch.save(ck, path)


def save_classifier(work: str, path: str):
    """The trained recogniser as fp16 safetensors (about 11 MB), its accuracy in the metadata."""
    from safetensors.torch import save_file
    ck = torch.load(os.path.join(work, 'classifier_final.pt'), map_location='cpu', weights_only=False)
    state = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in ck['model'].items()}
    save_file(state, path, metadata={'report': json.dumps(ck['report']), 'model': 'training/emoji/classifier.py EmojiClassifier'})
    return ck['report']


def crop(images: torch.Tensor, box) -> torch.Tensor:
    """[B,3,64,64] → the box's pixels, bilinearly resized to 64x64 (evaluate.halves for the pair boxes)."""
    size = images.shape[-1]
    l, t, r, b = (round(v * size) for v in box)
    return F.interpolate(images[:, :, t:b, l:r], size=(size, size), mode='bilinear', align_corners=False)


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(F.cosine_similarity(a[None], b[None]).item())


def mean_se(values):
    v = np.asarray(values, dtype=np.float64)
    return {'mean': float(v.mean()), 'se': float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else 0.0, 'n': int(len(v))}


def score_stories(judge: Judge, index: dict, images: torch.Tensor) -> dict:
    """Per variant: consistency, ref similarity and top-1 per subject; both-recognisable per scene."""
    variants = index['settings']['variants']  # 'off' first: the differences are taken against it
    per_variant = {v: {'consistency': [], 'ref_similarity': [], 'both_top5': [], 'top1': [], 'top5': []} for v in variants}
    refs_top1 = []
    stories = []
    for story in index['stories']:
        ref_logits, ref_feats = judge(images[story['references']])
        refs_top1 += [int(ref_logits[i].argmax() == s['cls']) for i, s in enumerate(story['subjects'])]
        row = {'id': story['id'], 'subjects': [s['label'] for s in story['subjects']], 'variants': {}}
        for v in variants:
            feats = {s['name']: [] for s in story['subjects']}
            both = []
            for scene in story['scenes']:
                img = images[[scene['images'][v]]]
                hits = []
                for i, s in enumerate(story['subjects']):
                    logits, f = judge(crop(img, scene['boxes'][s['name']]))
                    feats[s['name']].append(f[0])
                    top5 = logits[0].topk(5).indices.tolist()
                    hits.append(s['cls'] in top5)
                    per_variant[v]['top1'].append(int(top5[0] == s['cls']))
                    per_variant[v]['top5'].append(int(s['cls'] in top5))
                    per_variant[v]['ref_similarity'].append(cosine(f[0], ref_feats[i]))
                both.append(int(all(hits)))
            per_variant[v]['both_top5'] += both
            cons = []
            for name, fs in feats.items():
                pairs = [cosine(fs[a], fs[b]) for a in range(len(fs)) for b in range(a + 1, len(fs))]
                cons.append(float(np.mean(pairs)))
            per_variant[v]['consistency'] += cons
            row['variants'][v] = {'consistency': cons, 'both_top5': both}
        stories.append(row)
    summary = {v: {k: mean_se(x) for k, x in m.items()} for v, m in per_variant.items()}
    # Paired against IR off: the same subjects and seeds, so the difference has a small error.
    for v in variants[1:]:
        for k in ('consistency', 'ref_similarity'):
            d = np.asarray(per_variant[v][k]) - np.asarray(per_variant[variants[0]][k])
            summary[v][f'{k}_minus_{variants[0]}'] = mean_se(d)
    return {'summary': summary, 'references_top1': mean_se(refs_top1), 'stories': stories}


def score_real_pairs(judge: Judge, data: EmojiData) -> dict:
    """The crop protocol on real pair images: the ceiling of top-1 and both-recognisable."""
    recs = data.meta['images']
    idx = [i for i, r in enumerate(recs) if r['kind'] == 'pair']
    if not idx:
        return {}
    px = data.pixels(torch.tensor(idx, device=data.device))
    out = {'n': len(idx)}
    hits = []
    for side, box, key in (('left', PAIR_LEFT, 'cls'), ('right', PAIR_RIGHT, 'cls2')):
        logits, _ = judge(crop(px, box))
        labels = torch.tensor([recs[i][key] for i in idx])
        top5 = logits.topk(5, dim=1).indices
        out[f'top1_{side}'] = float((top5[:, 0] == labels).float().mean())
        hits.append((top5 == labels[:, None]).any(1))
    out['both_top5'] = float((hits[0] & hits[1]).float().mean())
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--pack', required=True)
    ap.add_argument('--images', required=True, help='folder with index.json and images.u8 (eval_ir_stories.ts)')
    ap.add_argument('--work', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--steps', type=int, default=FULL.clf_steps)
    ap.add_argument('--classifier', default=None, help='fp16 safetensors of a trained recogniser, from an earlier call (skips training)')
    a = ap.parse_args()
    t0 = time.time()
    dev = device()
    data = EmojiData(a.pack, dev, TextConfig().max_len)
    log(f'data: {int(data.is_single.sum())} singles, {data.num_classes} classes, {time.time() - t0:.1f}s')
    prepare_work(a.work, a.classifier, data.num_classes)
    t1 = time.time()
    train_classifier.run(data, a.work, dataclasses.replace(FULL, clf_steps=a.steps), dev)
    if not a.classifier:
        add_to_report(a.work, {'steps': a.steps, 'train_seconds': round(time.time() - t1, 1)})
    os.makedirs(a.out, exist_ok=True)
    report = save_classifier(a.work, os.path.join(a.out, 'classifier.safetensors'))
    log(f'classifier: {report}')

    with open(os.path.join(a.images, 'index.json')) as f:
        index = json.load(f)
    shape = index['image']
    raw = np.fromfile(os.path.join(a.images, index['file']), dtype=np.uint8)
    images = torch.from_numpy(raw.reshape(index['count'], shape['height'], shape['width'], shape['channels'])).to(dev)
    images = images.permute(0, 3, 1, 2).float() / 127.5 - 1.0
    judge = Judge(a.work, data.num_classes, dev)
    results = {
        'classifier': {**report, 'loaded_from': a.classifier},
        'real_pairs': score_real_pairs(judge, data),
        **score_stories(judge, index, images),
        'seconds': round(time.time() - t0, 1),
    }
    with open(os.path.join(a.out, 'ir-eval-results.json'), 'w') as f:
        json.dump(results, f, indent=1)
    log(json.dumps({'classifier': results['classifier'], 'real_pairs': results['real_pairs'], 'references_top1': results['references_top1']}))
    for v, m in results['summary'].items():
        log(v, {k: round(x['mean'], 4) for k, x in m.items()})
    log(f'done in {time.time() - t0:.0f}s')


if __name__ == '__main__':
    main()
