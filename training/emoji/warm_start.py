"""Continue training from the shipped fp16 weights (a later session has no full checkpoint)."""
import os

import torch
from safetensors.torch import load_file

FOLDERS = {'text': 'emoji-text', 'dit': 'emoji-dit', 'lit': 'emoji-lit', 'dico': 'emoji-dico', 'vae': 'emoji-vae'}


def load_shipped(module: torch.nn.Module, assets_dir: str, kind: str) -> None:
    path = os.path.join(assets_dir, FOLDERS[kind], 'model.safetensors')
    if not os.path.exists(path):
        raise FileNotFoundError(f'warm start: {path} is missing; pass the assets/models folder of a finished run')
    state = {k: v.float() for k, v in load_file(path).items()}
    module.load_state_dict(state, strict=True)
