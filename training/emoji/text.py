"""Word-level tokenizer (vocabulary built from our captions) and the small text encoder."""
import re
import unicodedata
from collections import Counter

import torch
import torch.nn as nn

from .config import TextConfig
from .layers import Mlp, merge_heads, softmax_attention, split_heads

SPECIALS = ['<pad>', '<bos>', '<unk>']
PAD, BOS, UNK = 0, 1, 2
_MARKS = re.compile('[\u0300-\u036f]')
_BREAK = re.compile('[^a-z0-9]+')


def words(text: str) -> list:
    """NFKD, drop U+0300..U+036F, lower case, every run outside [a-z0-9] is a break."""
    t = _MARKS.sub('', unicodedata.normalize('NFKD', text)).lower()
    return [w for w in _BREAK.split(t) if w]


def build_vocab(captions) -> list:
    counts = Counter(w for c in captions for w in words(c))
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return SPECIALS + [w for w, _ in ordered]


class Tokenizer:
    def __init__(self, vocab: list, max_len: int):
        if vocab[:3] != SPECIALS:
            raise ValueError('vocabulary must start with <pad>, <bos>, <unk>')
        self.vocab = vocab
        self.index = {w: i for i, w in enumerate(vocab)}
        self.max_len = max_len

    def encode(self, text: str) -> list:
        ids = [BOS] + [self.index.get(w, UNK) for w in words(text)][: self.max_len - 1]
        return ids + [PAD] * (self.max_len - len(ids))

    def batch(self, texts) -> torch.Tensor:
        return torch.tensor([self.encode(t) for t in texts], dtype=torch.long)


class TextAttention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, mask):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        h = self.heads
        return self.proj(merge_heads(softmax_attention(split_heads(q, h), split_heads(k, h), split_heads(v, h), mask)))


class TextLayer(nn.Module):
    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.dim, eps=cfg.layer_norm_eps)
        self.attn = TextAttention(cfg.dim, cfg.heads)
        self.norm2 = nn.LayerNorm(cfg.dim, eps=cfg.layer_norm_eps)
        self.mlp = Mlp(cfg.dim, cfg.mlp_hidden)

    def forward(self, x, mask):
        x = x + self.attn(self.norm1(x), mask)
        return x + self.mlp(self.norm2(x))


class TextEncoder(nn.Module):
    """ids [B,L] -> (tokens [B,L,D] after the final LayerNorm, pooled [B,D] = tokens[:,0], mask [B,L])."""

    def __init__(self, cfg: TextConfig):
        super().__init__()
        self.cfg = cfg
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.position_embedding = nn.Parameter(torch.zeros(cfg.max_len, cfg.dim))
        self.layers = nn.ModuleList([TextLayer(cfg) for _ in range(cfg.layers)])
        self.final_norm = nn.LayerNorm(cfg.dim, eps=cfg.layer_norm_eps)
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.position_embedding, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, ids):
        mask = ids != PAD
        x = self.token_embedding(ids) + self.position_embedding[None, : ids.shape[1]]
        for layer in self.layers:
            x = layer(x, mask)
        x = self.final_norm(x)
        return x, x[:, 0], mask
