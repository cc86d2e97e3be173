"""Recomputes the denoisers' parity files after the text encoder changed (issue 20): same inputs (x, t,
sample noise and settings read from the old files), new text features, on the CPU in fp32 from the
shipped fp16 weights, as export.py computes them.

  python3 training/reparity.py --assets assets/models [--text NEW/emoji-text] --out OUT
writes OUT/emoji-{dit,lit,dico}/parity.safetensors; --text: the new text encoder's folder, when it is not yet in --assets.
"""
import argparse
import json
import os
import sys

import torch
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from emoji.config import DiCoConfig, DiTConfig, TextConfig, VAEConfig  # noqa: E402
from emoji.dico import EmojiDiCo  # noqa: E402
from emoji.dit import EmojiDiT  # noqa: E402
from emoji.flow import sample  # noqa: E402
from emoji.text import TextEncoder, Tokenizer  # noqa: E402
from emoji.vae import AutoEncoder  # noqa: E402
from emoji.warm_start import load_shipped  # noqa: E402

PARITY_PROMPTS = ['a cat face and a slice of pizza, twemoji style', '']
NETS = {'dit': lambda: EmojiDiT(DiTConfig()), 'lit': lambda: EmojiDiT(DiTConfig(self_attention='relu-linear')), 'dico': lambda: EmojiDiCo(DiCoConfig())}


@torch.no_grad()
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--assets', required=True)
    ap.add_argument('--text', default=None)
    ap.add_argument('--out', required=True)
    a = ap.parse_args()
    text_dir = a.text or os.path.join(a.assets, 'emoji-text')
    torch.backends.cuda.matmul.allow_tf32 = False
    with open(os.path.join(text_dir, 'words.json')) as f:
        vocab = json.load(f)
    text = TextEncoder(TextConfig(vocab_size=len(vocab)))
    text.load_state_dict({k: v.float() for k, v in load_file(os.path.join(text_dir, 'model.safetensors')).items()})
    text = shipped_weights_rounded(text)
    vae = shipped(AutoEncoder(VAEConfig()), a.assets, 'vae')
    ids = Tokenizer(vocab, 24).batch(PARITY_PROMPTS)
    tokens, pooled, mask = text(ids)
    for name, make in NETS.items():
        old = load_file(os.path.join(a.assets, f'emoji-{name}', 'parity.safetensors'))
        model = shipped(make(), a.assets, name)
        steps, cfg, shift = (float(old[k][0]) for k in ('sample_steps', 'sample_cfg', 'sample_shift'))
        out = model(old['x'], old['t'], tokens, mask, pooled)
        sampled = sample(model, old['sample_noise'], (tokens[:1], mask[:1], pooled[:1]), (tokens[1:], mask[1:], pooled[1:]), int(steps), cfg, shift)
        new = {**old, 'text_tokens': tokens, 'text_mask': mask.float(), 'text_pooled': pooled, 'out': out,
               'sample_latent': sampled, 'sample_image': vae.decode(sampled)}
        folder = os.path.join(a.out, f'emoji-{name}')
        os.makedirs(folder, exist_ok=True)
        save_file({k: v.contiguous() for k, v in new.items()}, os.path.join(folder, 'parity.safetensors'),
                  metadata={'model': f'emoji-{name}', 'prompts': json.dumps(PARITY_PROMPTS)})
        print(f'emoji-{name}: out rel change {((out - old["out"]).norm() / old["out"].norm()).item():.3e}, '
              f'sample rel change {((sampled - old["sample_latent"]).norm() / old["sample_latent"].norm()).item():.3e}', flush=True)


def shipped(module, assets, kind):
    load_shipped(module, assets, kind)
    return shipped_weights_rounded(module)


def shipped_weights_rounded(module):
    with torch.no_grad():
        for t in module.state_dict().values():
            if t.is_floating_point():
                t.copy_(t.half().float())
    return module.eval()


if __name__ == '__main__':
    main()
