"""Reads the pack written by training/dataset/build.mjs and serves batches from GPU memory."""
import gzip
import io
import json
import struct

import numpy as np
import torch
from PIL import Image

from .text import BOS, PAD, UNK, Tokenizer, build_vocab


def load_pack(path: str):
    with open(path, 'rb') as f:
        raw = f.read()
    if raw[:8] != b'EMJPACK1':
        raise ValueError(f'{path} is not an emoji pack (rebuild it with training/dataset/build.mjs)')
    json_len = struct.unpack_from('<I', raw, 8)[0]
    meta = json.loads(gzip.decompress(raw[12:12 + json_len]))
    png_len = struct.unpack_from('<I', raw, 12 + json_len)[0]
    png = raw[16 + json_len:16 + json_len + png_len]
    Image.MAX_IMAGE_PIXELS = None
    atlas = np.asarray(Image.open(io.BytesIO(png)).convert('RGB'))
    tile, cols, n = meta['tile'], meta['columns'], len(meta['images'])
    rows = atlas.shape[0] // tile
    tiles = atlas.reshape(rows, tile, cols, tile, 3).transpose(0, 2, 1, 3, 4).reshape(rows * cols, tile, tile, 3)
    return meta, np.ascontiguousarray(tiles[:n])


def _csr(groups):
    counts = torch.tensor([len(g) for g in groups], dtype=torch.long)
    starts = torch.cumsum(counts, 0) - counts
    flat = torch.tensor([i for g in groups for i in g], dtype=torch.long)
    return flat, starts, counts


class EmojiData:
    """images: uint8 [N,64,64,3] on device. Captions are tokenised once; a batch is drawn with
    singles class-balanced over the training classes and pairs with probability pair_probability."""

    def __init__(self, pack_path: str, device, max_len: int, vocab=None):
        self.meta, images = load_pack(pack_path)
        self.device = device
        self.images = torch.from_numpy(images).to(device)
        recs = self.meta['images']
        classes = self.meta['classes']
        self.num_classes = len(classes)
        self.heldout_classes = [i for i, c in enumerate(classes) if c['heldout']]
        heldout = set(self.heldout_classes)
        self.is_single = torch.tensor([r['kind'] == 'single' for r in recs])
        self.image_class = torch.tensor([r['cls'] for r in recs], dtype=torch.long)
        self.trainable = [i for i, r in enumerate(recs) if r['kind'] == 'pair' or r['cls'] not in heldout]
        train_caps = [c for i in self.trainable for c in recs[i]['captions']]
        self.vocab = vocab if vocab is not None else build_vocab(train_caps)
        self.tokenizer = Tokenizer(self.vocab, max_len)
        all_caps = [c for r in recs for c in r['captions']]
        self.caption_ids = self.tokenizer.batch(all_caps).to(device)
        counts = torch.tensor([len(r['captions']) for r in recs], dtype=torch.long)
        self.cap_start = (torch.cumsum(counts, 0) - counts).to(device)
        self.cap_count = counts.to(device)
        singles_by_class = [[] for _ in classes]
        for i, r in enumerate(recs):
            if r['kind'] == 'single':
                singles_by_class[r['cls']].append(i)
        self.singles_by_class = singles_by_class
        train_cls = [c for c in range(len(classes)) if c not in heldout]
        self.train_classes = torch.tensor(train_cls, dtype=torch.long, device=device)
        flat, starts, cnts = _csr(singles_by_class)
        self.cls_images, self.cls_start, self.cls_count = flat.to(device), starts.to(device), cnts.to(device)
        self.pair_images = torch.tensor([i for i, r in enumerate(recs) if r['kind'] == 'pair'], dtype=torch.long, device=device)
        self.trainable_images = torch.tensor(self.trainable, dtype=torch.long, device=device)

    def pixels(self, idx: torch.Tensor) -> torch.Tensor:
        """float [B,3,64,64] in [-1, 1]."""
        return self.images[idx].permute(0, 3, 1, 2).float() / 127.5 - 1.0

    def sample_images(self, batch: int, gen: torch.Generator, pair_probability: float) -> torch.Tensor:
        dev = self.device
        cls = self.train_classes[torch.randint(len(self.train_classes), (batch,), device=dev, generator=gen)]
        pick = (torch.rand(batch, device=dev, generator=gen) * self.cls_count[cls]).long()
        single = self.cls_images[self.cls_start[cls] + pick]
        pair = self.pair_images[torch.randint(len(self.pair_images), (batch,), device=dev, generator=gen)]
        use_pair = torch.rand(batch, device=dev, generator=gen) < pair_probability
        return torch.where(use_pair, pair, single)

    def sample_captions(self, idx, gen, caption_dropout: float, word_dropout: float) -> torch.Tensor:
        dev = self.device
        n = idx.shape[0]
        cap = self.cap_start[idx] + (torch.rand(n, device=dev, generator=gen) * self.cap_count[idx]).long()
        ids = self.caption_ids[cap].clone()
        word = (ids != PAD) & (ids != BOS)
        drop_word = word & (torch.rand(ids.shape, device=dev, generator=gen) < word_dropout)
        ids[drop_word] = UNK
        drop_all = torch.rand(n, device=dev, generator=gen) < caption_dropout
        ids[drop_all] = self.empty_ids().to(dev)
        return ids

    def empty_ids(self) -> torch.Tensor:
        ids = torch.full((self.tokenizer.max_len,), PAD, dtype=torch.long)
        ids[0] = BOS
        return ids
