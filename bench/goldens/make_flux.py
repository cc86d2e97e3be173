# Makes the tiny FLUX.1 goldens of issue 19 with diffusers (CPU, float32, CPU generators).
# Run on the GPU machine (golden_common.py beside it): python3 make_flux.py <diffusers src> <parts dir>; writes $OUT/.
# <parts dir> holds the project's own tiny text encoders from test/fixtures/sd3-tiny (text_encoder = CLIP-L,
# text_encoder_3 = T5, tokenizer_3 = T5's tokenizer) and CLIP's tokenizer (../shared/fixtures/sdxl-tiny/tokenizer),
# so the FLUX fixtures add only the transformer and the 16-channel VAE. Weights are rounded to their stored
# dtype (bf16 transformer, fp16 VAE) before the goldens are computed.
import inspect, json, os, sys
sys.path.insert(0, sys.argv[1])
import numpy as np, torch
sys.path.insert(1, os.path.dirname(os.path.abspath(__file__)))
from golden_common import rounded, save_as, f32, sections
from safetensors.torch import save_file

OUT = os.environ['OUT']
PARTS = sys.argv[2]
torch.set_grad_enabled(False)
import diffusers
from diffusers import FluxTransformer2DModel, AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline
from transformers import CLIPTextModel, CLIPTokenizer, T5EncoderModel, PreTrainedTokenizerFast
print('diffusers', diffusers.__version__, 'torch', torch.__version__, flush=True)
report = {}
state = {}

section = sections(report)

# FLUX.1-dev's and FLUX.1-schnell's scheduler configs (their scheduler_config.json values).
DEV_SCHED = dict(num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
                 base_image_seq_len=256, max_image_seq_len=4096)
SCHNELL_SCHED = dict(num_train_timesteps=1000, shift=1.0, use_dynamic_shifting=False, base_shift=0.5, max_shift=1.15,
                     base_image_seq_len=256, max_image_seq_len=4096)
TRANSFORMER = dict(patch_size=1, in_channels=64, num_layers=2, num_single_layers=2, attention_head_dim=16,
                   num_attention_heads=2, joint_attention_dim=80, pooled_projection_dim=32, axes_dims_rope=(4, 6, 6))

def load_parts():
    state['clip_l'] = CLIPTextModel.from_pretrained(f'{PARTS}/text_encoder').to(torch.float32).eval()
    state['t5'] = T5EncoderModel.from_pretrained(f'{PARTS}/text_encoder_3').to(torch.float32).eval()
    state['tok_l'] = CLIPTokenizer.from_pretrained(f'{PARTS}/tokenizer')
    t5tok = PreTrainedTokenizerFast(tokenizer_file=f'{PARTS}/tokenizer_3/tokenizer.json', pad_token='<pad>', eos_token='</s>', unk_token='<unk>')
    t5tok.model_max_length = 512
    state['t5tok'] = t5tok

def make_models():
    torch.manual_seed(191)
    dev = rounded(FluxTransformer2DModel(guidance_embeds=True, **TRANSFORMER).eval(), torch.bfloat16, buffers=False)
    schnell = FluxTransformer2DModel(guidance_embeds=False, **TRANSFORMER).eval()
    sd = {k: v for k, v in dev.state_dict().items() if 'guidance_embedder' not in k}
    missing, unexpected = schnell.load_state_dict(sd, strict=False)
    assert not missing and not unexpected, (missing, unexpected)
    vae = rounded(AutoencoderKL(in_channels=3, out_channels=3, down_block_types=['DownEncoderBlock2D'] * 2,
                                up_block_types=['UpDecoderBlock2D'] * 2, block_out_channels=[8, 16], layers_per_block=1,
                                latent_channels=16, norm_num_groups=8, sample_size=32, scaling_factor=0.3611,
                                shift_factor=0.1159, use_quant_conv=False, use_post_quant_conv=False).eval(), torch.float16, buffers=False)
    state.update(dev=dev, schnell=schnell, vae=vae)

section('parts', load_parts)
section('models', make_models)

# ---------------------------------------------------------------- transformer at 3 timesteps (+ schnell at one)
ROWS, COLS, TEXT = 4, 6, 16

def transformer_goldens():
    g = torch.Generator().manual_seed(7)
    x = torch.randn(2, ROWS * COLS, 64, generator=g)
    ctx = torch.randn(2, TEXT, 80, generator=g)
    pooled = torch.randn(2, 32, generator=g)
    img_ids = FluxPipeline._prepare_latent_image_ids(2, ROWS, COLS, 'cpu', torch.float32)
    txt_ids = torch.zeros(TEXT, 3)
    guidance = torch.tensor([3.5, 5.0])
    t = {'x': x, 'context': ctx, 'pooled': pooled, 'guidance': guidance, 'img_ids': img_ids}
    for ts in (1.0, 0.5, 0.02):
        out = state['dev'](hidden_states=x, encoder_hidden_states=ctx, pooled_projections=pooled, timestep=torch.tensor([ts, ts]),
                           img_ids=img_ids, txt_ids=txt_ids, guidance=guidance, return_dict=False)[0]
        t[f'dev_out_t{round(ts * 1000)}'] = f32(out)
    out = state['schnell'](hidden_states=x, encoder_hidden_states=ctx, pooled_projections=pooled, timestep=torch.tensor([0.75, 0.75]),
                           img_ids=img_ids, txt_ids=txt_ids, return_dict=False)[0]
    t['schnell_out_t750'] = f32(out)
    state['tg'] = t
    save_file({k: v.contiguous() for k, v in t.items()}, f'{OUT}/flux-tiny-transformer-golden.safetensors')
    report['dev_out_std'] = float(t['dev_out_t500'].std())

section('transformer', transformer_goldens)

# ---------------------------------------------------------------- SoftPAG: the paper's equations, literally
def rope(x, cos, sin):
    # diffusers' apply_rotary_emb(use_real=True, unbind_dim=-1) on [B, S, H, D], in float64 here
    re, im = x.reshape(*x.shape[:-1], -1, 2).unbind(-1)
    rot = torch.stack([-im, re], -1).flatten(3)
    return x * cos[None, :, None, :] + rot * sin[None, :, None, :]

class PlainSoftPag:
    """A_soft = (1-u)·softmax(QKᵀ/√d) + u·I per head over the whole joint sequence [text, image];
    u is [B, heads] (0 rows = unperturbed)."""
    def __init__(self, u):
        self.u = u

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, image_rotary_emb=None, **kw):
        b = hidden_states.shape[0]
        split = lambda t: t.unflatten(-1, (-1, attn.head_dim))
        q, k, v = attn.norm_q(split(attn.to_q(hidden_states))), attn.norm_k(split(attn.to_k(hidden_states))), split(attn.to_v(hidden_states))
        if encoder_hidden_states is not None:
            cq = attn.norm_added_q(split(attn.add_q_proj(encoder_hidden_states)))
            ck = attn.norm_added_k(split(attn.add_k_proj(encoder_hidden_states)))
            cv = split(attn.add_v_proj(encoder_hidden_states))
            q, k, v = torch.cat([cq, q], 1), torch.cat([ck, k], 1), torch.cat([cv, v], 1)
        cos, sin = (t.double() for t in image_rotary_emb)
        q, k, v = rope(q.double(), cos, sin), rope(k.double(), cos, sin), v.double()
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # [B, H, S, D]
        a = torch.softmax(q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5, dim=-1)
        u = self.u.double().view(b, attn.heads, 1, 1)
        a = (1 - u) * a + u * torch.eye(a.shape[-1], dtype=torch.float64)
        out = (a @ v).float().transpose(1, 2).flatten(2, 3)
        if encoder_hidden_states is not None:
            n = encoder_hidden_states.shape[1]
            ctx, out = out[:, :n], out[:, n:]
            return attn.to_out[0](out), attn.to_add_out(ctx)
        return out

def softpag_goldens():
    model = state['dev']
    layers = [(f'transformer_blocks.{i}.attn', blk.attn) for i, blk in enumerate(model.transformer_blocks)]
    layers += [(f'single_transformer_blocks.{i}.attn', blk.attn) for i, blk in enumerate(model.single_transformer_blocks)]
    heads = 2
    hw = torch.zeros(len(layers), heads)
    hw[0, 1] = 0.5; hw[1, 0] = 1.0; hw[2, 1] = 0.25; hw[3, 0] = 0.75
    original = {name: a.processor for name, a in layers}
    for li, (name, a) in enumerate(layers):
        a.set_processor(PlainSoftPag(torch.stack([torch.zeros(heads), hw[li]])))
    t = state['tg']
    out = model(hidden_states=t['x'], encoder_hidden_states=t['context'], pooled_projections=t['pooled'], timestep=torch.tensor([0.5, 0.5]),
                img_ids=t['img_ids'], txt_ids=torch.zeros(TEXT, 3), guidance=t['guidance'], return_dict=False)[0]
    for name, a in layers:
        a.set_processor(original[name])
    save_file({'head_weights': hw.contiguous(), 'out_t500': f32(out)}, f'{OUT}/flux-tiny-softpag-golden.safetensors')
    report['softpag_layers'] = [n for n, _ in layers]
    report['softpag_row0_vs_plain'] = float((out[0] - t['dev_out_t500'][0]).abs().max())
    report['softpag_row1_vs_plain'] = float((out[1] - t['dev_out_t500'][1]).abs().max())

section('softpag', softpag_goldens)

# ---------------------------------------------------------------- diffusers folder (transformer, VAE, scheduler)
MODEL_INDEX = {
    '_class_name': 'FluxPipeline', '_diffusers_version': diffusers.__version__,
    'scheduler': ['diffusers', 'FlowMatchEulerDiscreteScheduler'], 'text_encoder': ['transformers', 'CLIPTextModel'],
    'text_encoder_2': ['transformers', 'T5EncoderModel'], 'tokenizer': ['transformers', 'CLIPTokenizer'],
    'tokenizer_2': ['transformers', 'T5TokenizerFast'], 'transformer': ['diffusers', 'FluxTransformer2DModel'],
    'vae': ['diffusers', 'AutoencoderKL'],
}

def folder():
    d = f'{OUT}/flux-tiny'
    save_as(state['dev'], f'{d}/transformer', torch.bfloat16)
    save_as(state['vae'], f'{d}/vae', torch.float16)
    FlowMatchEulerDiscreteScheduler(**DEV_SCHED).save_pretrained(f'{d}/scheduler')
    json.dump(MODEL_INDEX, open(f'{d}/model_index.json', 'w'), indent=2)

section('folder', folder)

# ---------------------------------------------------------------- schnell single file, Black Forest Labs' layout
def to_original(sd, layers, single_layers):
    def unswap(w):
        a, b = w.chunk(2, dim=0)
        return torch.cat([b, a], dim=0)
    o = {}
    def lin(dst, src):
        for wb in ('weight', 'bias'):
            o[f'{dst}.{wb}'] = sd[f'{src}.{wb}']
    lin('img_in', 'x_embedder'); lin('txt_in', 'context_embedder')
    lin('time_in.in_layer', 'time_text_embed.timestep_embedder.linear_1'); lin('time_in.out_layer', 'time_text_embed.timestep_embedder.linear_2')
    lin('vector_in.in_layer', 'time_text_embed.text_embedder.linear_1'); lin('vector_in.out_layer', 'time_text_embed.text_embedder.linear_2')
    if 'time_text_embed.guidance_embedder.linear_1.weight' in sd:
        lin('guidance_in.in_layer', 'time_text_embed.guidance_embedder.linear_1'); lin('guidance_in.out_layer', 'time_text_embed.guidance_embedder.linear_2')
    lin('final_layer.linear', 'proj_out')
    for wb in ('weight', 'bias'):
        o[f'final_layer.adaLN_modulation.1.{wb}'] = unswap(sd[f'norm_out.linear.{wb}'])
    for i in range(layers):
        a, d = f'transformer_blocks.{i}', f'double_blocks.{i}'
        lin(f'{d}.img_mod.lin', f'{a}.norm1.linear'); lin(f'{d}.txt_mod.lin', f'{a}.norm1_context.linear')
        for wb in ('weight', 'bias'):
            o[f'{d}.img_attn.qkv.{wb}'] = torch.cat([sd[f'{a}.attn.to_{c}.{wb}'] for c in 'qkv'])
            o[f'{d}.txt_attn.qkv.{wb}'] = torch.cat([sd[f'{a}.attn.add_{c}_proj.{wb}'] for c in 'qkv'])
        o[f'{d}.img_attn.norm.query_norm.scale'] = sd[f'{a}.attn.norm_q.weight']
        o[f'{d}.img_attn.norm.key_norm.scale'] = sd[f'{a}.attn.norm_k.weight']
        o[f'{d}.txt_attn.norm.query_norm.scale'] = sd[f'{a}.attn.norm_added_q.weight']
        o[f'{d}.txt_attn.norm.key_norm.scale'] = sd[f'{a}.attn.norm_added_k.weight']
        lin(f'{d}.img_attn.proj', f'{a}.attn.to_out.0'); lin(f'{d}.txt_attn.proj', f'{a}.attn.to_add_out')
        lin(f'{d}.img_mlp.0', f'{a}.ff.net.0.proj'); lin(f'{d}.img_mlp.2', f'{a}.ff.net.2')
        lin(f'{d}.txt_mlp.0', f'{a}.ff_context.net.0.proj'); lin(f'{d}.txt_mlp.2', f'{a}.ff_context.net.2')
    for i in range(single_layers):
        a, s = f'single_transformer_blocks.{i}', f'single_blocks.{i}'
        lin(f'{s}.modulation.lin', f'{a}.norm.linear')
        for wb in ('weight', 'bias'):
            o[f'{s}.linear1.{wb}'] = torch.cat([sd[f'{a}.attn.to_{c}.{wb}'] for c in 'qkv'] + [sd[f'{a}.proj_mlp.{wb}']])
        o[f'{s}.norm.query_norm.scale'] = sd[f'{a}.attn.norm_q.weight']
        o[f'{s}.norm.key_norm.scale'] = sd[f'{a}.attn.norm_k.weight']
        lin(f'{s}.linear2', f'{a}.proj_out')
    return o

def single_file():
    from diffusers.loaders import single_file_utils as sfu
    # diffusers' converter hard-codes FLUX.1's width (3072); the same function at the tiny width checks the layout.
    src = inspect.getsource(sfu.convert_flux_transformer_checkpoint_to_diffusers).replace('inner_dim = 3072', 'inner_dim = 32')
    scope = dict(sfu.__dict__)
    exec(src, scope)
    sd = {k: v.to(torch.bfloat16) for k, v in state['schnell'].state_dict().items()}
    orig = to_original(sd, 2, 2)
    back = scope['convert_flux_transformer_checkpoint_to_diffusers']({f'model.diffusion_model.{k}': v.clone() for k, v in orig.items()})
    assert set(back) == set(sd), set(back) ^ set(sd)
    for k in sd:
        assert torch.equal(back[k], sd[k]), k
    save_file({k: v.contiguous() for k, v in orig.items()}, f'{OUT}/flux-schnell-tiny.safetensors')
    report['single_file_keys'] = len(orig)

section('single file', single_file)

# ---------------------------------------------------------------- whole runs: dev (guidance 3.5) and schnell
def runs():
    from PIL import Image
    tensors, runs = {}, {}
    def run(name, transformer, sched, **kw):
        pipe = FluxPipeline(scheduler=FlowMatchEulerDiscreteScheduler(**sched), vae=state['vae'], text_encoder=state['clip_l'],
                            tokenizer=state['tok_l'], text_encoder_2=state['t5'], tokenizer_2=state['t5tok'], transformer=transformer)
        lat, ts = [], []
        def cb(p, i, t, kwargs):
            lat.append(f32(kwargs['latents'])); ts.append(float(t))
            return kwargs
        g = torch.Generator().manual_seed(kw['seed'])
        args = {k: v for k, v in kw.items() if k != 'seed'}
        out = pipe(generator=g, output_type='np', callback_on_step_end=cb, callback_on_step_end_tensor_inputs=['latents'], **args)
        emb, pooled, _ = pipe.encode_prompt(prompt=kw['prompt'], prompt_2=None, max_sequence_length=kw['max_sequence_length'])
        tensors[f'{name}_latents'] = torch.stack(lat).contiguous()
        tensors[f'{name}_image'] = torch.from_numpy(out.images).float().contiguous()
        tensors[f'{name}_prompt_embeds'] = f32(emb)
        tensors[f'{name}_pooled'] = f32(pooled)
        tensors[f'{name}_sigmas'] = f32(pipe.scheduler.sigmas)
        runs[name] = dict(kw, timesteps=ts, scheduler=dict(pipe.scheduler.config))
        Image.fromarray((out.images[0] * 255).round().astype('uint8')).save(f'{OUT}/flux-tiny-{name}.png')
    run('dev', state['dev'], DEV_SCHED, prompt='a red cat on a table', guidance_scale=3.5, num_inference_steps=3,
        height=32, width=48, max_sequence_length=32, seed=0)
    run('schnell', state['schnell'], SCHNELL_SCHED, prompt='A Tiny Robot in the rain, watercolor', guidance_scale=0.0,
        num_inference_steps=2, height=32, width=32, max_sequence_length=32, seed=42)
    save_file(tensors, f'{OUT}/flux-tiny-golden.safetensors')
    json.dump({'runs': runs}, open(f'{OUT}/flux-tiny-golden.json', 'w'), indent=1, default=str)

section('runs', runs)

json.dump(report, open(f'{OUT}/report.json', 'w'), indent=1)
print(json.dumps({k: (v if k.endswith(('std', 'plain', 'keys', 'layers')) else ('ok' if v == 'ok' else 'FAILED')) for k, v in report.items()}), flush=True)
