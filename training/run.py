"""One command for the whole emoji model family: autoencoder -> (recogniser || text encoder + DiT +
DiCo) -> LiT distillation -> evaluation -> export. Every phase resumes from its checkpoint in --work
and is skipped when its final file exists.

  python3 training/run.py --data .cache/emoji-data/emoji64.pack --work /root/train/work \
      --assets /root/train/out/assets/models --docs /root/train/out/docs [--smoke] [--warm-start assets/models]
"""
import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from emoji import evaluate, export, train_ae, train_joint, train_lit  # noqa: E402
from emoji.common import device, log  # noqa: E402
from emoji.config import FULL, SMOKE, TextConfig  # noqa: E402
from emoji.data import EmojiData  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', required=True)
    ap.add_argument('--work', required=True)
    ap.add_argument('--assets', required=True)
    ap.add_argument('--docs', required=True)
    ap.add_argument('--smoke', action='store_true', help='tiny step counts: checks the whole pipeline')
    ap.add_argument('--warm-start', default=None, help='assets/models folder of an earlier run to continue from')
    a = ap.parse_args()
    a.data, a.work, a.assets, a.docs = (os.path.abspath(p) for p in (a.data, a.work, a.assets, a.docs))
    if a.warm_start:
        a.warm_start = os.path.abspath(a.warm_start)
    sched = SMOKE if a.smoke else FULL
    os.makedirs(os.path.join(a.work, 'ckpt'), exist_ok=True)
    dev = device()
    t0 = time.time()
    vocab = None
    if a.warm_start:
        import json
        with open(os.path.join(a.warm_start, 'emoji-text', 'words.json')) as f:
            vocab = json.load(f)
        ae_final = os.path.join(a.work, 'ae_final.pt')
        if not os.path.exists(ae_final):
            _warm_autoencoder(a.warm_start, ae_final)
    data = EmojiData(a.data, dev, TextConfig().max_len, vocab=vocab)
    log(f'data: {data.images.shape[0]} images, {data.num_classes} classes ({len(data.heldout_classes)} held out), vocab {len(data.vocab)}, {time.time() - t0:.1f}s')
    train_ae.run(data, a.work, sched, dev)
    log(f'phase ae finished at {time.time() - t0:.0f}s')
    clf = None
    if not os.path.exists(os.path.join(a.work, 'classifier_final.pt')):
        cmd = [sys.executable, '-m', 'emoji.train_classifier', '--data', a.data, '--work', a.work] + (['--smoke'] if a.smoke else [])
        clf = subprocess.Popen(cmd, cwd=os.path.dirname(os.path.abspath(__file__)))
    train_joint.run(data, a.work, sched, dev, a.warm_start)
    log(f'phase joint finished at {time.time() - t0:.0f}s')
    train_lit.run(data, a.work, sched, dev, a.warm_start)
    log(f'phase lit finished at {time.time() - t0:.0f}s')
    if clf is not None and clf.wait() != 0:
        raise SystemExit('classifier phase failed; see its output above')
    evaluate.run(data, a.work, sched, dev, a.docs)
    log(f'phase eval finished at {time.time() - t0:.0f}s')
    export.run(data, a.work, sched, a.assets)
    log(f'ALL DONE in {time.time() - t0:.0f}s')


def _warm_autoencoder(assets, final):
    import torch
    from emoji.config import VAEConfig
    from emoji.vae import AutoEncoder
    from emoji.warm_start import load_shipped
    ae = AutoEncoder(VAEConfig())
    load_shipped(ae, assets, 'vae')
    torch.save({'model': ae.state_dict(), 'report': {'warm_start': assets}}, final)


if __name__ == '__main__':
    main()
