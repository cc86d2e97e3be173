# LinFusion's own SDEdit ladder stage in PyTorch, per stage size: diffusers' StableDiffusionImg2ImgPipeline
# with an SD 1.5-size UNet, LinFusion modules and SD VAE (random weights, fp16, CUDA), DDIM, CFG 7.5, VAE
# tiling (2048 px tiles) above 2048 px as the notebook. A few denoising steps per stage; each part timed
# with CUDA synchronised, peak allocated memory per stage. One JSON line per stage, and OUT/hires-torch.json.
#
#   PYTHONPATH=/tmp/ref/diffusers/src:/tmp/ref/linfusion python3 bench/hires_torch.py [--sizes 2048x2048,...]
#       [--steps 10 --strength 0.2 | --steps 50 --ladder] [--deadline-s 70]
# --ladder: each stage at the notebook's strength for its longer side (2048: 0.4, 4096: 0.3, 8192: 0.2, 16384: 0.1), as
# bench/hires.ts counts a stage.
import argparse, json, os, time
import torch
from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionImg2ImgPipeline, UNet2DConditionModel
from src.linfusion import LinFusion

ap = argparse.ArgumentParser()
ap.add_argument('--sizes', default='2048x2048,4096x4096,8192x4096,16384x8192')
ap.add_argument('--steps', type=int, default=10)
ap.add_argument('--strength', type=float, default=0.2)
ap.add_argument('--ladder', action='store_true', help="the notebook's strength per stage size instead of --strength")
ap.add_argument('--deadline-s', type=float, default=70, help='start no stage after this many seconds')
a = ap.parse_args()
t_start = time.time()
dev = torch.device('cuda')
torch.manual_seed(0)
with torch.device(dev):
    unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768, block_out_channels=(320, 640, 1280, 1280), attention_head_dim=8, layers_per_block=2).half().eval()
    vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4, sample_size=512,
                        down_block_types=('DownEncoderBlock2D',) * 4, up_block_types=('UpDecoderBlock2D',) * 4).half().eval()
LinFusion.construct_for(unet=unet, load_pretrained=False)
sched = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule='scaled_linear', clip_sample=False, set_alpha_to_one=False, steps_offset=1)
pipe = StableDiffusionImg2ImgPipeline(vae=vae, text_encoder=None, tokenizer=None, unet=unet, scheduler=sched, safety_checker=None,
                                      feature_extractor=None, requires_safety_checker=False)
pipe.set_progress_bar_config(disable=True)
parts = {}
def timed(name, f):
    def g(*args, **kw):
        torch.cuda.synchronize(); t0 = time.time()
        r = f(*args, **kw)
        torch.cuda.synchronize(); parts[name] = parts.get(name, 0) + time.time() - t0
        return r
    return g
unet.forward = timed('unet', unet.forward)
vae.encode = timed('vae_encode', vae.encode)
vae.decode = timed('vae_decode', vae.decode)
emb = torch.randn(1, 77, 768, device=dev, dtype=torch.float16)
neg = torch.randn(1, 77, 768, device=dev, dtype=torch.float16)
setup_s = time.time() - t_start
rows = []
out = os.environ.get('OUT')
for size in a.sizes.split(','):
    w, h = map(int, size.split('x'))
    if time.time() - t_start > a.deadline_s:
        rows.append({'size': size, 'skipped': f'deadline {a.deadline_s} s passed'}); continue
    if max(w, h) > 2048:
        vae.enable_tiling(); vae.tile_sample_min_size = 2048; vae.tile_latent_min_size = 256
    else:
        vae.disable_tiling()
    strength = {2048: 0.4, 4096: 0.3, 8192: 0.2, 16384: 0.1}.get(max(w, h), a.strength) if a.ladder else a.strength
    parts.clear()
    torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats()
    init = (torch.rand(1, 3, h, w, device=dev, dtype=torch.float16) * 2 - 1)
    torch.cuda.synchronize(); t0 = time.time()
    try:
        with torch.no_grad():
            pipe(prompt_embeds=emb, negative_prompt_embeds=neg, image=init, strength=strength, num_inference_steps=a.steps, guidance_scale=7.5,
                 generator=torch.Generator('cpu').manual_seed(3), output_type='pt')
        torch.cuda.synchronize()
        row = {'size': size, 'total_s': time.time() - t0, **{k + '_s': v for k, v in parts.items()}, 'unet_calls': int(a.steps * strength),
               'peak_allocated_gib': torch.cuda.max_memory_allocated() / 2**30, 'peak_reserved_gib': torch.cuda.max_memory_reserved() / 2**30}
    except torch.cuda.OutOfMemoryError as e:
        row = {'size': size, 'error': 'out of memory: ' + str(e)[:200]}
    del init
    rows.append(row)
    print(json.dumps(row), flush=True)
    if out:
        json.dump({'setup_s': setup_s, 'device': torch.cuda.get_device_name(), 'torch': torch.__version__, 'rows': rows}, open(os.path.join(out, 'hires-torch.json'), 'w'), indent=1)
print(json.dumps({'setup_s': setup_s, 'rows': rows}))
