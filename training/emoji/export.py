"""Phase 5: fp16 safetensors + config.json per network, the vocabulary, and parity files (fixed
inputs and fp32 outputs computed on the CPU from the fp16 weights upcast to fp32)."""
import json
import os

import torch
from safetensors.torch import save_file

from .common import log
from .config import DiCoConfig, DiTConfig, TextConfig, VAEConfig, to_dict
from .flow import sample
from .models import DENOISERS, load_all
from .train_lit import LIT

PARITY_PROMPTS = ['a cat face and a slice of pizza, twemoji style', '']
FOLDER = {'vae': 'emoji-vae', 'text': 'emoji-text', 'dit': 'emoji-dit', 'lit': 'emoji-lit', 'dico': 'emoji-dico'}
ARCH = {'dit': DiTConfig(), 'lit': LIT, 'dico': DiCoConfig()}


def write_weights(module, folder, name):
    state = {k: v.detach().half().contiguous() for k, v in module.state_dict().items()}
    save_file(state, os.path.join(folder, 'model.safetensors'), metadata={'format': 'pt', 'model': name, 'dtype': 'float16'})


def write_parity(folder, tensors: dict, name: str):
    out = {k: (v.detach().contiguous() if v.dtype == torch.int32 else v.detach().float().contiguous()) for k, v in tensors.items()}
    save_file(out, os.path.join(folder, 'parity.safetensors'), metadata={'model': name, 'prompts': json.dumps(PARITY_PROMPTS)})


def write_json(path, obj):
    with open(path, 'w') as f:
        json.dump(obj, f, indent=2)
        f.write('\n')


def sampler_defaults(results, name):
    if results and name in results.get('models', {}):
        return results['models'][name]['sampler']
    return {'steps': 12, 'cfg': 3.5, 'shift': 1.0}


@torch.no_grad()
def run(data, work: str, sched, out_assets: str):
    torch.backends.cuda.matmul.allow_tf32 = False
    nets = load_all(work, len(data.vocab), torch.device('cpu'))
    results = None
    rpath = os.path.join(work, 'eval', 'results.json')
    if os.path.exists(rpath):
        with open(rpath) as f:
            results = json.load(f)
    folders = {k: os.path.join(out_assets, v) for k, v in FOLDER.items()}
    for f in folders.values():
        os.makedirs(f, exist_ok=True)
    tok = data.tokenizer

    # Text encoder.
    text_cfg = TextConfig(vocab_size=len(data.vocab))
    ids = tok.batch(PARITY_PROMPTS)
    tokens, pooled, mask = nets['text'](ids)
    write_weights(nets['text'], folders['text'], 'emoji-text')
    write_json(os.path.join(folders['text'], 'words.json'), data.vocab)
    write_json(os.path.join(folders['text'], 'config.json'), {
        'architecture': 'emoji-text', 'format_version': 1, **to_dict(text_cfg),
        'gelu': 'tanh', 'special_tokens': {'pad': 0, 'bos': 1, 'unk': 2},
        'tokenizer': 'words: NFKD, remove U+0300-U+036F, lower case, split on runs of [^a-z0-9]; ids = [bos] + words[:max_len-1] + pad; unknown -> unk',
        'outputs': {'tokens': '[B, max_len, dim] after final_norm', 'pooled': 'tokens[:, 0]', 'mask': 'ids != pad'},
    })
    write_parity(folders['text'], {'ids': ids.to(torch.int32), 'tokens': tokens, 'pooled': pooled, 'mask': mask.float()}, 'emoji-text')

    # Autoencoder.
    vae = nets['vae']
    singles = [i for i, s in enumerate(data.is_single.tolist()) if s]
    images = data.pixels(torch.tensor([singles[0], singles[1]], device=data.device)).cpu()
    encoded = vae.encode(images)
    z = torch.cat([encoded[:1], torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(5))])
    write_weights(vae, folders['vae'], 'emoji-vae')
    write_json(os.path.join(folders['vae'], 'config.json'), {
        'architecture': 'emoji-vae', 'format_version': 1, **to_dict(VAEConfig()), 'latent_size': 16,
        'image_range': '[-1, 1]; pixel = clamp(round((x + 1) * 127.5), 0, 255)',
        'encode': 'mean channels 0..3 of encoder output, then (mean - latent_shift) / latent_scale',
        'decode': 'z * latent_scale + latent_shift, then decoder',
        'upsample': 'nearest', 'activation': 'silu',
    })
    write_parity(folders['vae'], {'image': images, 'encoded': encoded, 'z': z, 'decoded': vae.decode(z)}, 'emoji-vae')

    # Denoisers: one forward at batch 2 (row 1 unconditional) and a 3-step guided sample.
    x = torch.randn(2, 4, 16, 16, generator=torch.Generator().manual_seed(7))
    t = torch.tensor([0.73, 0.21])
    noise = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(8))
    for name in DENOISERS:
        model = nets[name]
        sd = sampler_defaults(results, name)
        write_weights(model, folders[name], f'emoji-{name}')
        cfg = to_dict(ARCH[name])
        if cfg.get('self_attention') == 'softmax':
            for k in ('linear_heads', 'dwc_kernel', 'linear_eps'):
                cfg.pop(k)
        extra = {'gelu': 'tanh', 'prediction': 'velocity v = noise - data; x_t = (1 - t) * data + t * noise',
                 'timestep_input': 't in [0, 1]; sinusoid of t * 1000, [cos | sin], freq_dim', 'text_encoder': 'emoji-text', 'vae': 'emoji-vae',
                 'sampler': {'name': 'euler-rectified-flow', **sd,
                             'time_grid': 't_i = shift*u/(1+(shift-1)*u), u = 1 - i/steps', 'guidance': 'v = v_uncond + cfg * (v_cond - v_uncond), all channels; uncond = empty prompt'}}
        if results and name in results.get('models', {}):
            m = results['models'][name]
            extra['params'] = m['params']
            extra['flops_per_image'] = m['flops']['total']
        arch = {'dit': 'emoji-dit', 'lit': 'emoji-lit', 'dico': 'emoji-dico'}[name]
        write_json(os.path.join(folders[name], 'config.json'), {'architecture': arch, 'format_version': 1, **cfg, **extra})
        out = model(x, t, tokens, mask, pooled)
        steps = 3
        sampled = sample(model, noise, (tokens[:1], mask[:1], pooled[:1]), (tokens[1:], mask[1:], pooled[1:]), steps, sd['cfg'], sd['shift'])
        write_parity(folders[name], {
            'x': x, 't': t, 'text_tokens': tokens, 'text_mask': mask.float(), 'text_pooled': pooled, 'out': out,
            'sample_noise': noise, 'sample_steps': torch.tensor([float(steps)]), 'sample_cfg': torch.tensor([float(sd['cfg'])]),
            'sample_shift': torch.tensor([float(sd['shift'])]), 'sample_latent': sampled, 'sample_image': vae.decode(sampled),
        }, arch)
        log(f'export {arch}: out std {out.std():.4f}')
    total = sum(os.path.getsize(os.path.join(f, 'model.safetensors')) for f in folders.values())
    log(f'export: shipped weights {total / 1e6:.2f} MB')
    with open(os.path.join(work, 'export_done'), 'w') as f:
        f.write(str(total))
