# Makes the tiny SD3 / SD3.5 / PixArt goldens of issue 19 with diffusers (CPU, float32, CPU generators).
# Run on the GPU machine: python3 make_sd3_pixart.py <diffusers src> <clip tokenizer dirs> ; writes $OUT/.
# Weights are rounded to their stored dtype (bf16 transformer, fp16 encoders/VAE) before the goldens are
# computed, so the small files hold exactly the weights the goldens were made with.
import json, os, sys, traceback, random
sys.path.insert(0, sys.argv[1])
import numpy as np, torch
sys.path.insert(1, os.path.dirname(os.path.abspath(__file__)))
from golden_common import rounded, save_as, f32, sections
from safetensors.torch import save_file, load_file

OUT = os.environ['OUT']
CLIP_TOK = sys.argv[2]  # folder with tokenizer/ and tokenizer_2/ (CLIP BPE, SDXL-style '!' pad on the second)
torch.set_grad_enabled(False)
import diffusers
from diffusers import (SD3Transformer2DModel, AutoencoderKL, FlowMatchEulerDiscreteScheduler, StableDiffusion3Pipeline,
                       PixArtTransformer2DModel, PixArtSigmaPipeline, DPMSolverMultistepScheduler)
from transformers import (CLIPTextConfig, CLIPTextModelWithProjection, CLIPTokenizer, T5Config, T5EncoderModel,
                          PreTrainedTokenizerFast)
print('diffusers', diffusers.__version__, 'torch', torch.__version__, flush=True)
report = {}

section = sections(report)

# ---------------------------------------------------------------- T5 tokenizer (our own unigram model)
WORDS = {
    'subject': ['cat', 'dog', 'fox', 'owl', 'robot', 'castle', 'teapot', 'lighthouse', 'bicycle', 'mountain', 'river',
                'garden', 'astronaut', 'dragon', 'violin', 'umbrella', 'sunflower', 'penguin', 'tram', 'library'],
    'adj': ['red', 'blue', 'golden', 'tiny', 'huge', 'misty', 'quiet', 'shiny', 'ancient', 'wooden', 'glass', 'paper',
            'neon', 'soft', 'bright', 'dark', 'striped', 'spotted', 'frozen', 'burning'],
    'place': ['on a table', 'in a forest', 'under the sea', 'at night', 'in the rain', 'on the moon', 'by the window',
              'in a city street', 'near a lake', 'inside a cave', 'above the clouds', 'in the desert'],
    'style': ['oil painting', 'watercolor', 'photograph', 'pencil sketch', 'pixel art', '3d render', 'studio lighting',
              'high detail', 'soft focus', 'wide angle', 'cinematic', 'isometric'],
}

def corpus():
    rng = random.Random(19)
    lines = []
    for _ in range(3000):
        s = f"{rng.choice(WORDS['adj'])} {rng.choice(WORDS['subject'])} {rng.choice(WORDS['place'])}"
        if rng.random() < 0.6:
            s += f", {rng.choice(WORDS['style'])}"
        if rng.random() < 0.2:
            s = s.capitalize() + '.'
        if rng.random() < 0.1:
            s += f" {rng.randint(1, 2026)}"
        lines.append(s)
    lines += ['Café crème, naïve façade: déjà vu!', 'The quick brown fox jumps over the lazy dog?',
              "it's (very) good; isn't it", 'A1111 & ComfyUI - 50% off']
    return lines

PROMPTS = [
    'a red cat on a table',
    'A Tiny Robot in the rain, watercolor',
    '  leading and trailing spaces   ',
    'double  spaces   inside',
    'unseen words: zebra xylophone quokka',
    'Café naïve déjà vu',
    'ﬁne ligature and full-width ＡＢＣ',
    'emoji 🐱 and symbols ~ ^ | \\',
    'numbers 1234 and 3.14159',
    '',
    'a golden dragon above the clouds, ' * 6,
    'a\ttab and a\nnewline',
]

def make_tokenizer():
    from tokenizers import Tokenizer, models, trainers, pre_tokenizers, normalizers, processors, decoders, Regex
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(' {2,}'), ' ')])
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                 pre_tokenizers.Metaspace(replacement='▁', prepend_scheme='always', split=True)])
    tok.decoder = decoders.Metaspace(replacement='▁', prepend_scheme='always', split=True)
    trainer = trainers.UnigramTrainer(vocab_size=700, special_tokens=['<pad>', '</s>', '<unk>'], unk_token='<unk>',
                                      max_piece_length=12, shrinking_factor=0.75)
    tok.train_from_iterator(corpus(), trainer)
    tok.post_processor = processors.TemplateProcessing(single='$A </s>', pair='$A </s> $B </s>', special_tokens=[('</s>', 1)])
    os.makedirs(f'{OUT}/t5-tokenizer', exist_ok=True)
    tok.save(f'{OUT}/t5-tokenizer/tokenizer.json')
    hf = PreTrainedTokenizerFast(tokenizer_file=f'{OUT}/t5-tokenizer/tokenizer.json', pad_token='<pad>', eos_token='</s>', unk_token='<unk>')
    hf.model_max_length = 512
    hf.save_pretrained(f'{OUT}/t5-tokenizer')
    golden = {'vocab_size': tok.get_vocab_size(), 'prompts': PROMPTS, 'ids': [], 'ids_padded_32': []}
    for p in PROMPTS:
        golden['ids'].append(hf(p).input_ids)
        golden['ids_padded_32'].append(hf(p, padding='max_length', max_length=32, truncation=True).input_ids)
    json.dump(golden, open(f'{OUT}/t5-tokenizer-golden.json', 'w'), ensure_ascii=False, indent=1)
    return hf

state = {}
section('tokenizer', lambda: state.__setitem__('t5tok', make_tokenizer()))

# ---------------------------------------------------------------- models
T5_CFG = dict(d_model=80, d_kv=16, d_ff=96, num_layers=2, num_heads=4, relative_attention_num_buckets=8,
              relative_attention_max_distance=20, feed_forward_proj='gated-gelu', layer_norm_epsilon=1e-6,
              dropout_rate=0.0, tie_word_embeddings=False, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)

def make_models():
    torch.manual_seed(19)
    vocab = state['t5tok'].backend_tokenizer.get_vocab_size()
    t5 = rounded(T5EncoderModel(T5Config(vocab_size=vocab, **T5_CFG)).eval(), torch.float16)
    clip_l = rounded(CLIPTextModelWithProjection(CLIPTextConfig(
        vocab_size=49408, hidden_size=32, intermediate_size=64, num_attention_heads=4, num_hidden_layers=3,
        max_position_embeddings=77, hidden_act='quick_gelu', projection_dim=32, bos_token_id=49406,
        eos_token_id=49407, pad_token_id=1, layer_norm_eps=1e-5)).eval(), torch.float16)
    clip_g = rounded(CLIPTextModelWithProjection(CLIPTextConfig(
        vocab_size=49408, hidden_size=32, intermediate_size=64, num_attention_heads=4, num_hidden_layers=3,
        max_position_embeddings=77, hidden_act='gelu', projection_dim=32, bos_token_id=49406,
        eos_token_id=49407, pad_token_id=1, layer_norm_eps=1e-5)).eval(), torch.float16)
    common = dict(sample_size=16, patch_size=2, in_channels=16, attention_head_dim=8, num_attention_heads=4,
                  joint_attention_dim=80, caption_projection_dim=32, pooled_projection_dim=64, out_channels=16,
                  pos_embed_max_size=24)
    sd35 = rounded(SD3Transformer2DModel(num_layers=3, dual_attention_layers=(0, 1), qk_norm='rms_norm', **common).eval(), torch.bfloat16)
    sd30 = rounded(SD3Transformer2DModel(num_layers=2, **common).eval(), torch.bfloat16)
    vae = rounded(AutoencoderKL(in_channels=3, out_channels=3, down_block_types=['DownEncoderBlock2D'] * 2,
                                up_block_types=['UpDecoderBlock2D'] * 2, block_out_channels=[16, 32], layers_per_block=1,
                                latent_channels=16, norm_num_groups=8, sample_size=32, scaling_factor=1.5305,
                                shift_factor=0.0609, use_quant_conv=False, use_post_quant_conv=False).eval(), torch.float16)
    state.update(t5=t5, clip_l=clip_l, clip_g=clip_g, sd35=sd35, sd30=sd30, vae=vae)

section('models', make_models)

def t5_goldens():
    tok, t5 = state['t5tok'], state['t5']
    prompts = PROMPTS[:4]
    ids = tok(prompts, padding='max_length', max_length=32, truncation=True, return_tensors='pt')
    hs = t5(ids.input_ids).last_hidden_state
    hs_masked = t5(ids.input_ids, attention_mask=ids.attention_mask).last_hidden_state
    save_file({'input_ids': ids.input_ids.to(torch.int64).contiguous(), 'attention_mask': ids.attention_mask.to(torch.int64).contiguous(),
               'hidden': f32(hs), 'hidden_masked': f32(hs_masked)}, f'{OUT}/t5-tiny-golden.safetensors')
    report['t5_hidden_std'] = float(hs.std())

section('t5', t5_goldens)

def transformer_goldens(name, model):
    g = torch.Generator().manual_seed(7)
    x = torch.randn(2, 16, 16, 16, generator=g)
    ctx = torch.randn(2, 77 + 32, 80, generator=g)
    pooled = torch.randn(2, 64, generator=g)
    t = {'x': x, 'context': ctx, 'pooled': pooled}
    for ts in (1.0, 500.0, 999.0):
        out = model(hidden_states=x, encoder_hidden_states=ctx, pooled_projections=pooled,
                    timestep=torch.tensor([ts, ts]), return_dict=False)[0]
        t[f'out_t{int(ts)}'] = f32(out)
    # a non-square latent (pos_embed crop off-centre in one axis)
    x2 = torch.randn(1, 16, 12, 20, generator=g)
    t['x_wide'] = x2
    t['out_wide_t500'] = f32(model(hidden_states=x2, encoder_hidden_states=ctx[:1], pooled_projections=pooled[:1],
                                   timestep=torch.tensor([500.0]), return_dict=False)[0])
    save_file({k: v.contiguous() for k, v in t.items()}, f'{OUT}/{name}-transformer-golden.safetensors')
    report[f'{name}_out_std'] = float(t['out_t500'].std())

section('sd35 transformer', lambda: transformer_goldens('sd35-tiny', state['sd35']))
section('sd30 transformer', lambda: transformer_goldens('sd30-tiny', state['sd30']))

# ---------------------------------------------------------------- SoftPAG: the paper's equations, literally
class PlainSoftPag:
    """A_soft = (1-u)·softmax(QKᵀ/√d) + u·I per head over the whole joint sequence (HeadHunter's
    attention_identity@scale=u); u is [B, heads] (0 rows = unperturbed)."""
    def __init__(self, u):
        self.u = u

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, **kw):
        b, n_img = hidden_states.shape[0], hidden_states.shape[1]
        heads = attn.heads
        def split(t):
            return t.view(b, -1, heads, t.shape[-1] // heads).transpose(1, 2)
        q, k, v = split(attn.to_q(hidden_states)), split(attn.to_k(hidden_states)), split(attn.to_v(hidden_states))
        if attn.norm_q is not None: q = attn.norm_q(q)
        if attn.norm_k is not None: k = attn.norm_k(k)
        if encoder_hidden_states is not None:
            cq, ck, cv = split(attn.add_q_proj(encoder_hidden_states)), split(attn.add_k_proj(encoder_hidden_states)), split(attn.add_v_proj(encoder_hidden_states))
            if attn.norm_added_q is not None: cq = attn.norm_added_q(cq)
            if attn.norm_added_k is not None: ck = attn.norm_added_k(ck)
            q, k, v = torch.cat([q, cq], 2), torch.cat([k, ck], 2), torch.cat([v, cv], 2)
        d = q.shape[-1]
        a = torch.softmax((q.double() @ k.double().transpose(-1, -2)) / d ** 0.5, dim=-1)
        n = a.shape[-1]
        u = self.u.double().view(b, heads, 1, 1)
        a = (1 - u) * a + u * torch.eye(n, dtype=torch.float64)
        out = (a @ v.double()).float().transpose(1, 2).reshape(b, -1, heads * d)
        if encoder_hidden_states is not None:
            out, ctx = out[:, :n_img], out[:, n_img:]
            if not attn.context_pre_only:
                ctx = attn.to_add_out(ctx)
            return attn.to_out[0](out), ctx
        return attn.to_out[0](out)

def softpag_goldens():
    model = state['sd35']
    layers = []  # execution order: block i attn, then block i attn2 when present
    for i, blk in enumerate(model.transformer_blocks):
        layers.append((f'transformer_blocks.{i}.attn', blk.attn))
        if blk.attn2 is not None:
            layers.append((f'transformer_blocks.{i}.attn2', blk.attn2))
    heads = 4
    hw = torch.zeros(len(layers), heads)
    hw[0, 1] = 0.5; hw[1, 0] = 1.0; hw[1, 3] = 0.25; hw[2, 2] = 1.0; hw[4, 0] = 0.75
    original = {name: a.processor for name, a in layers}
    for li, (name, a) in enumerate(layers):
        a.set_processor(PlainSoftPag(torch.stack([torch.zeros(heads), hw[li]])))
    gl = load_file(f'{OUT}/sd35-tiny-transformer-golden.safetensors')
    out = model(hidden_states=gl['x'], encoder_hidden_states=gl['context'], pooled_projections=gl['pooled'],
                timestep=torch.tensor([500.0, 500.0]), return_dict=False)[0]
    for name, a in layers:
        a.set_processor(original[name])
    save_file({'head_weights': hw.contiguous(), 'out_t500': f32(out)}, f'{OUT}/sd35-tiny-softpag-golden.safetensors')
    json.dump([n for n, _ in layers], open(f'{OUT}/sd35-tiny-softpag-layers.json', 'w'))
    report['softpag_row0_vs_plain'] = float((out[0] - gl['out_t500'][0]).abs().max())
    report['softpag_row1_vs_plain'] = float((out[1] - gl['out_t500'][1]).abs().max())

section('softpag', softpag_goldens)

# ---------------------------------------------------------------- SD3 pipeline folder + whole runs
def sd3_pipeline():
    tok_l = CLIPTokenizer.from_pretrained(f'{CLIP_TOK}/tokenizer')
    tok_g = CLIPTokenizer.from_pretrained(f'{CLIP_TOK}/tokenizer_2')
    sched = FlowMatchEulerDiscreteScheduler(shift=3.0)
    pipe = StableDiffusion3Pipeline(transformer=state['sd35'], scheduler=sched, vae=state['vae'], text_encoder=state['clip_l'],
                                    tokenizer=tok_l, text_encoder_2=state['clip_g'], tokenizer_2=tok_g,
                                    text_encoder_3=state['t5'], tokenizer_3=state['t5tok'])
    folder = f'{OUT}/sd3-tiny'
    pipe.save_pretrained(folder)
    # store each part in its compact dtype (the goldens below use exactly these rounded values)
    for sub, model, dt in [('transformer', state['sd35'], torch.bfloat16), ('text_encoder', state['clip_l'], torch.float16),
                           ('text_encoder_2', state['clip_g'], torch.float16), ('text_encoder_3', state['t5'], torch.float16),
                           ('vae', state['vae'], torch.float16)]:
        import shutil
        shutil.rmtree(f'{folder}/{sub}')
        save_as(model, f'{folder}/{sub}', dt)
    import shutil
    for sub in ('tokenizer', 'tokenizer_2'):
        shutil.rmtree(f'{folder}/{sub}')  # third-party CLIP vocabulary: tests read ../shared/fixtures
    runs = {}
    tensors = {}
    def run(name, p, **kw):
        lat = []
        def cb(pp, i, t, kwargs):
            lat.append(f32(kwargs['latents']))
            return kwargs
        g = torch.Generator().manual_seed(kw.pop('seed'))
        out = p(generator=g, output_type='np', callback_on_step_end=cb, callback_on_step_end_tensor_inputs=['latents'], **kw)
        tensors[f'{name}_latents'] = torch.stack(lat)
        tensors[f'{name}_image'] = torch.from_numpy(out.images).float().contiguous()
        emb = p.encode_prompt(prompt=kw['prompt'], prompt_2=None, prompt_3=None, negative_prompt=kw.get('negative_prompt'),
                              do_classifier_free_guidance=kw['guidance_scale'] > 1, max_sequence_length=kw.get('max_sequence_length', 256))
        tensors[f'{name}_prompt_embeds'] = f32(emb[0])
        tensors[f'{name}_pooled'] = f32(emb[2])
        if emb[1] is not None:
            tensors[f'{name}_negative_prompt_embeds'] = f32(emb[1]); tensors[f'{name}_negative_pooled'] = f32(emb[3])
        runs[name] = {k: v for k, v in kw.items()}
        from PIL import Image
        Image.fromarray((out.images[0] * 255).round().astype('uint8')).save(f'{OUT}/sd3-tiny-{name}.png')
    run('t5', pipe, prompt='a red cat on a table', negative_prompt='blurry', guidance_scale=4.0, num_inference_steps=4,
        height=32, width=48, max_sequence_length=32, seed=0)
    pipe_no_t5 = StableDiffusion3Pipeline(transformer=state['sd35'], scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
                                          vae=state['vae'], text_encoder=state['clip_l'], tokenizer=tok_l,
                                          text_encoder_2=state['clip_g'], tokenizer_2=tok_g, text_encoder_3=None, tokenizer_3=None)
    run('no_t5', pipe_no_t5, prompt='A Tiny Robot in the rain, watercolor', negative_prompt='', guidance_scale=3.0,
        num_inference_steps=3, height=32, width=32, max_sequence_length=32, seed=42)
    for k in runs:
        runs[k]['seed'] = {'t5': 0, 'no_t5': 42}[k]
    save_file({k: v.contiguous() for k, v in tensors.items()}, f'{OUT}/sd3-tiny-golden.safetensors')
    json.dump({'runs': runs, 'scheduler': dict(sched.config)}, open(f'{OUT}/sd3-tiny-golden.json', 'w'), indent=1, default=str)

section('sd3 pipeline', sd3_pipeline)

# ---------------------------------------------------------------- SD3 single file (original layout)
def to_original(sd, num_layers, dim):
    def unswap(w):  # inverse of diffusers' swap_scale_shift (it is its own inverse)
        shift, scale = w.chunk(2, dim=0)
        return torch.cat([scale, shift], dim=0)
    o = {'pos_embed': sd['pos_embed.pos_embed'], 'x_embedder.proj.weight': sd['pos_embed.proj.weight'],
         'x_embedder.proj.bias': sd['pos_embed.proj.bias'],
         't_embedder.mlp.0.weight': sd['time_text_embed.timestep_embedder.linear_1.weight'],
         't_embedder.mlp.0.bias': sd['time_text_embed.timestep_embedder.linear_1.bias'],
         't_embedder.mlp.2.weight': sd['time_text_embed.timestep_embedder.linear_2.weight'],
         't_embedder.mlp.2.bias': sd['time_text_embed.timestep_embedder.linear_2.bias'],
         'context_embedder.weight': sd['context_embedder.weight'], 'context_embedder.bias': sd['context_embedder.bias'],
         'y_embedder.mlp.0.weight': sd['time_text_embed.text_embedder.linear_1.weight'],
         'y_embedder.mlp.0.bias': sd['time_text_embed.text_embedder.linear_1.bias'],
         'y_embedder.mlp.2.weight': sd['time_text_embed.text_embedder.linear_2.weight'],
         'y_embedder.mlp.2.bias': sd['time_text_embed.text_embedder.linear_2.bias'],
         'final_layer.linear.weight': sd['proj_out.weight'], 'final_layer.linear.bias': sd['proj_out.bias'],
         'final_layer.adaLN_modulation.1.weight': unswap(sd['norm_out.linear.weight']),
         'final_layer.adaLN_modulation.1.bias': unswap(sd['norm_out.linear.bias'])}
    for i in range(num_layers):
        a, jb = f'transformer_blocks.{i}', f'joint_blocks.{i}'
        last = i == num_layers - 1
        for wb in ('weight', 'bias'):
            o[f'{jb}.x_block.attn.qkv.{wb}'] = torch.cat([sd[f'{a}.attn.to_{c}.{wb}'] for c in 'qkv'])
            o[f'{jb}.context_block.attn.qkv.{wb}'] = torch.cat([sd[f'{a}.attn.add_{c}_proj.{wb}'] for c in 'qkv'])
            o[f'{jb}.x_block.attn.proj.{wb}'] = sd[f'{a}.attn.to_out.0.{wb}']
            if not last:
                o[f'{jb}.context_block.attn.proj.{wb}'] = sd[f'{a}.attn.to_add_out.{wb}']
            o[f'{jb}.x_block.adaLN_modulation.1.{wb}'] = sd[f'{a}.norm1.linear.{wb}']
            ctx = sd[f'{a}.norm1_context.linear.{wb}']
            o[f'{jb}.context_block.adaLN_modulation.1.{wb}'] = unswap(ctx) if last else ctx
            o[f'{jb}.x_block.mlp.fc1.{wb}'] = sd[f'{a}.ff.net.0.proj.{wb}']
            o[f'{jb}.x_block.mlp.fc2.{wb}'] = sd[f'{a}.ff.net.2.{wb}']
            if not last:
                o[f'{jb}.context_block.mlp.fc1.{wb}'] = sd[f'{a}.ff_context.net.0.proj.{wb}']
                o[f'{jb}.context_block.mlp.fc2.{wb}'] = sd[f'{a}.ff_context.net.2.{wb}']
            if f'{a}.attn2.to_q.{wb}' in sd:
                o[f'{jb}.x_block.attn2.qkv.{wb}'] = torch.cat([sd[f'{a}.attn2.to_{c}.{wb}'] for c in 'qkv'])
                o[f'{jb}.x_block.attn2.proj.{wb}'] = sd[f'{a}.attn2.to_out.0.{wb}']
        if f'{a}.attn.norm_q.weight' in sd:
            o[f'{jb}.x_block.attn.ln_q.weight'] = sd[f'{a}.attn.norm_q.weight']
            o[f'{jb}.x_block.attn.ln_k.weight'] = sd[f'{a}.attn.norm_k.weight']
            o[f'{jb}.context_block.attn.ln_q.weight'] = sd[f'{a}.attn.norm_added_q.weight']
            o[f'{jb}.context_block.attn.ln_k.weight'] = sd[f'{a}.attn.norm_added_k.weight']
            if f'{a}.attn2.norm_q.weight' in sd:
                o[f'{jb}.x_block.attn2.ln_q.weight'] = sd[f'{a}.attn2.norm_q.weight']
                o[f'{jb}.x_block.attn2.ln_k.weight'] = sd[f'{a}.attn2.norm_k.weight']
    return o

def single_file():
    from diffusers.loaders.single_file_utils import convert_sd3_transformer_checkpoint_to_diffusers
    sd = {k: v.to(torch.bfloat16) for k, v in state['sd35'].state_dict().items()}
    orig = to_original(sd, 3, 32)
    back = convert_sd3_transformer_checkpoint_to_diffusers({f'model.diffusion_model.{k}': v.clone() for k, v in orig.items()})
    assert set(back) == set(sd), (set(back) ^ set(sd))
    for k in sd:
        assert torch.equal(back[k], sd[k]), k
    full = {f'model.diffusion_model.{k}': v.contiguous() for k, v in orig.items()}
    for prefix, model in [('text_encoders.clip_l.transformer.', state['clip_l']), ('text_encoders.clip_g.transformer.', state['clip_g']),
                          ('text_encoders.t5xxl.transformer.', state['t5'])]:
        for k, v in model.state_dict().items():
            full[prefix + k] = v.to(torch.float16).contiguous()
    save_file(full, f'{OUT}/sd3-tiny-single-file.safetensors')
    report['single_file_keys'] = len(full)

section('single file', single_file)

# ---------------------------------------------------------------- PixArt-α / Σ
def pixart():
    torch.manual_seed(21)
    common = dict(num_attention_heads=3, attention_head_dim=8, in_channels=4, out_channels=8, num_layers=2,
                  cross_attention_dim=24, patch_size=2, caption_channels=80, norm_type='ada_norm_single')
    sigma = rounded(PixArtTransformer2DModel(sample_size=16, use_additional_conditions=False, **common).eval(), torch.bfloat16, buffers=False)
    alpha = rounded(PixArtTransformer2DModel(sample_size=16, use_additional_conditions=True, **common).eval(), torch.bfloat16, buffers=False)
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, 4, 16, 16, generator=g)
    ctx = torch.randn(2, 32, 80, generator=g)
    mask = torch.ones(2, 32, dtype=torch.int64); mask[0, 9:] = 0; mask[1, 20:] = 0
    t = {'x': x, 'context': ctx, 'mask': mask}
    for name, model in [('sigma', sigma), ('alpha', alpha)]:
        extra = {'added_cond_kwargs': {'resolution': torch.tensor([[128.0, 128.0]] * 2), 'aspect_ratio': torch.tensor([[1.0]] * 2)}} \
            if name == 'alpha' else {'added_cond_kwargs': {'resolution': None, 'aspect_ratio': None}}
        for ts in (1, 500, 999):
            out = model(x, encoder_hidden_states=ctx, encoder_attention_mask=mask, timestep=torch.tensor([ts, ts]), return_dict=False, **extra)[0]
            t[f'{name}_out_t{ts}'] = f32(out)
    save_file({k: v.contiguous() for k, v in t.items()}, f'{OUT}/pixart-tiny-transformer-golden.safetensors')
    vae4 = rounded(AutoencoderKL(in_channels=3, out_channels=3, down_block_types=['DownEncoderBlock2D'] * 2,
                                 up_block_types=['UpDecoderBlock2D'] * 2, block_out_channels=[16, 32], layers_per_block=1,
                                 latent_channels=4, norm_num_groups=8, sample_size=32, scaling_factor=0.13025).eval(), torch.float16)
    pipe = PixArtSigmaPipeline(tokenizer=state['t5tok'], text_encoder=state['t5'], vae=vae4, transformer=sigma,
                               scheduler=DPMSolverMultistepScheduler())
    folder = f'{OUT}/pixart-sigma-tiny'
    pipe.save_pretrained(folder)
    import shutil
    for sub, model, dt in [('transformer', sigma, torch.bfloat16), ('text_encoder', state['t5'], torch.float16), ('vae', vae4, torch.float16)]:
        shutil.rmtree(f'{folder}/{sub}')
        save_as(model, f'{folder}/{sub}', dt)
    save_as(alpha, f'{OUT}/pixart-alpha-tiny-transformer', torch.bfloat16)
    lat = []
    g = torch.Generator().manual_seed(3)
    out = pipe(prompt='A Tiny Robot in the rain, watercolor', negative_prompt='', guidance_scale=4.5, num_inference_steps=4,
               height=32, width=32, generator=g, output_type='np', clean_caption=False, use_resolution_binning=False,
               max_sequence_length=32, callback=lambda i, t, l: lat.append(f32(l)))
    emb = pipe.encode_prompt('A Tiny Robot in the rain, watercolor', do_classifier_free_guidance=True, negative_prompt='',
                             clean_caption=False, max_sequence_length=32)
    save_file({'latents': torch.stack(lat).contiguous(), 'image': torch.from_numpy(out.images).float().contiguous(),
               'prompt_embeds': f32(emb[0]), 'prompt_mask': emb[1].to(torch.int64).contiguous(),
               'negative_prompt_embeds': f32(emb[2]), 'negative_mask': emb[3].to(torch.int64).contiguous()},
              f'{OUT}/pixart-sigma-tiny-golden.safetensors')
    json.dump({'run': {'prompt': 'A Tiny Robot in the rain, watercolor', 'negative_prompt': '', 'guidance_scale': 4.5, 'steps': 4,
                       'height': 32, 'width': 32, 'seed': 3, 'max_sequence_length': 32}, 'scheduler': dict(pipe.scheduler.config)},
              open(f'{OUT}/pixart-sigma-tiny-golden.json', 'w'), indent=1, default=str)

section('pixart', pixart)

json.dump(report, open(f'{OUT}/report.json', 'w'), indent=1)
print(json.dumps(report, indent=1)[:4000])
