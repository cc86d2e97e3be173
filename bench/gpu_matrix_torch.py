"""The PyTorch side of bench/gpu-matrix.ts: diffusers itself (its source carried to the GPU machine), fp16, SDPA.

  make   --out DIR --tokenizer DIR --linfusion-specs JSON
         random full-size models with diffusers' and transformers' own classes: DIR/sd15 (a whole
         StableDiffusionPipeline folder: CLIP-L text encoder, UNet, VAE, Euler scheduler), DIR/sdxl-unet, and
         random LinFusion modules DIR/linfusion-<model> laid out as bench/lib/unet-tensors.ts describes.
  unet   --model NAME --unet DIR --linfusion DIR --work DIR --configs JSON
         times UNet2DConditionModel per (variant, size); LinFusion replaces attn1 through an attention
         processor that runs bench/sd_unet_torch.py's LinFusion (checked there against LinFusion's goldens).
  image  --pipeline DIR --size 512 --steps 25
         a whole image (text encoding + steps + VAE decode) through StableDiffusionPipeline, warm.

Every command prints one JSON line last. Each timed configuration reports its wall-clock window (epoch ms) so
the caller reads GPU memory for it from the same nvidia-smi log as for its own processes.
"""
import argparse
import json
import os
import shutil
import time

import torch
from safetensors.torch import load_file, save_file

from sd_unet_torch import UNet as FunctionalUNet, load_linfusion, timed_ms

SD15_TEXT = dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                 max_position_embeddings=77, hidden_act="quick_gelu", projection_dim=768, pad_token_id=49407, bos_token_id=49406,
                 eos_token_id=49407)
SD15_VAE = dict(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=[128, 256, 512, 512], layers_per_block=2,
                down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4, sample_size=512, scaling_factor=0.18215)
SCHEDULER = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000, steps_offset=1,
                 prediction_type="epsilon", timestep_spacing="leading")


def now_ms():
    return time.time() * 1000


def make(a):
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    specs = json.load(open(a.linfusion_specs))
    made = {}
    for name, cfg in specs["unets"].items():
        t0 = time.perf_counter()
        with torch.device(a.device):
            unet = UNet2DConditionModel(**{k: v for k, v in cfg.items() if not k.startswith("_")}).half()
        made[name] = unet
        lf = specs["linfusion"][name]
        folder = os.path.join(a.out, f"linfusion-{name}")
        os.makedirs(folder, exist_ok=True)
        tensors = {}
        for t in lf["specs"]:
            init = t["init"]
            if init["kind"] == "uniform":
                v = (torch.rand(t["shape"], device=a.device) * 2 - 1) * init["bound"]
            else:
                v = (torch.ones if init["kind"] == "ones" else torch.zeros)(t["shape"], device=a.device)
            tensors[t["name"]] = v.half().cpu()
        save_file(tensors, os.path.join(folder, "diffusion_pytorch_model.safetensors"))
        json.dump(lf["config"], open(os.path.join(folder, "config.json"), "w"))
        print(f"{name}: random UNet {sum(p.numel() for p in unet.parameters()) / 1e6:.1f} M parameters, LinFusion written in "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
        if name != "sd15":
            unet.save_pretrained(os.path.join(a.out, f"{name}-unet"))
            del made[name]
    with torch.device(a.device):
        text = CLIPTextModel(CLIPTextConfig(**SD15_TEXT)).half()
        vae = AutoencoderKL(**SD15_VAE).half()
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=CLIPTokenizer.from_pretrained(a.tokenizer), unet=made["sd15"],
                                   scheduler=EulerDiscreteScheduler(**SCHEDULER), safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(os.path.join(a.out, "sd15"))
    # transformers 5 saves only tokenizer.json; the studio (and A1111-era folders) read vocab.json + merges.txt.
    for f in os.listdir(a.tokenizer):
        shutil.copy(os.path.join(a.tokenizer, f), os.path.join(a.out, "sd15", "tokenizer", f))
    open(os.path.join(a.out, "MADE"), "w").write("ok\n")
    print(json.dumps({"ok": True}))


class LinFusionProcessor:
    """attn1 through LinFusion's normalized linear attention (bench/sd_unet_torch.py holds the arithmetic)."""

    def __init__(self, ref, prefix, heads):
        self.ref, self.prefix, self.heads = ref, prefix, heads

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, *args, **kwargs):
        return self.ref.linfusion_attention(self.prefix, hidden_states, self.heads)


def set_variant(unet, variant, lf):
    from diffusers.models.attention_processor import AttnProcessor2_0

    procs = {}
    for key in unet.attn_processors:
        module = key[: -len(".processor")]
        if variant == "linfusion" and module in lf["map"]:
            procs[key] = LinFusionProcessor(lf["ref"], lf["map"][module], lf["heads"][module])
        else:
            procs[key] = AttnProcessor2_0()
    unet.set_attn_processor(procs)


def time_unet(a):
    from diffusers import UNet2DConditionModel

    cuda = a.device == "cuda"
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    t0 = time.perf_counter()
    unet = UNet2DConditionModel.from_pretrained(a.unet, torch_dtype=torch.float16).to(a.device).eval()
    lw, lmap = load_linfusion(a.linfusion, a.device, torch.float16)
    cfg = dict(unet.config)
    heads_cfg = json.load(open(os.path.join(a.linfusion, "config.json")))["modules_list"]
    lf = {"ref": FunctionalUNet(lw, cfg, lmap), "map": lmap, "heads": {m["module_name"]: m["heads"] for m in heads_cfg}}
    sync()
    load_s = time.perf_counter() - t0
    results = []
    for c in json.loads(a.configs):
        variant, size, steps = c["variant"], c["size"], c["steps"]
        inp = load_file(os.path.join(a.work, f"inputs-{a.model}-{size}.safetensors"))
        feeds = {k: v.to(a.device) for k, v in inp.items()}
        added = {"text_embeds": feeds["text_embeds"].half(), "time_ids": feeds["time_ids"].half()} if "text_embeds" in feeds else None
        set_variant(unet, variant, lf)
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        row = {"model": a.model, "variant": variant, "size": size, "start_ms": now_ms()}

        def step():
            return unet(feeds["sample"].half(), feeds["timestep"], feeds["encoder_hidden_states"].half(), added_cond_kwargs=added).sample

        try:
            with torch.inference_mode():
                out = step()
                step()
                times = timed_ms(step, steps, sync)
            times.sort()
            save_file({"out": out.float().contiguous().cpu()}, os.path.join(a.work, f"torch-{a.model}-{variant}-{size}.safetensors"))
            row.update(median_ms=times[len(times) // 2], min_ms=times[0], steps=len(times), finite=bool(torch.isfinite(out).all()))
            if cuda:
                row.update(allocated_peak_gb=torch.cuda.max_memory_allocated() / 2**30, reserved_peak_gb=torch.cuda.max_memory_reserved() / 2**30)
        except torch.OutOfMemoryError as e:
            row["error"] = f"out of memory: {str(e)[:160]}"
        row["end_ms"] = now_ms()
        results.append(row)
        print(json.dumps(row), flush=True)
    name = torch.cuda.get_device_name() if cuda else "cpu"
    print(json.dumps({"device": name, "torch": torch.__version__, "load_s": load_s, "results": results}))


def image(a):
    from diffusers import StableDiffusionPipeline

    torch.backends.cudnn.benchmark = True
    cuda = a.device == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    t0 = time.perf_counter()
    pipe = StableDiffusionPipeline.from_pretrained(a.pipeline, torch_dtype=torch.float16).to(a.device)
    pipe.set_progress_bar_config(disable=True)
    sync()
    load_s = time.perf_counter() - t0
    runs = []
    start = now_ms()
    for i in range(a.runs):
        sync()
        s = time.perf_counter()
        pipe("a lighthouse on a cliff at dusk", height=a.size, width=a.size, num_inference_steps=a.steps, guidance_scale=7.5,
             generator=torch.Generator("cpu").manual_seed(i), output_type="np")
        sync()
        runs.append((time.perf_counter() - s) * 1000)
    print(json.dumps({"load_s": load_s, "runs_ms": runs, "start_ms": start, "end_ms": now_ms(),
                      "allocated_peak_gb": torch.cuda.max_memory_allocated() / 2**30 if cuda else None}))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--out", required=True)
    m.add_argument("--tokenizer", required=True)
    m.add_argument("--linfusion-specs", required=True)
    m.add_argument("--device", default="cuda")
    u = sub.add_parser("unet")
    for k in ("--model", "--unet", "--linfusion", "--work", "--configs"):
        u.add_argument(k, required=True)
    u.add_argument("--device", default="cuda")
    i = sub.add_parser("image")
    i.add_argument("--pipeline", required=True)
    i.add_argument("--size", type=int, default=512)
    i.add_argument("--steps", type=int, default=25)
    i.add_argument("--runs", type=int, default=3)
    i.add_argument("--device", default="cuda")
    a = p.parse_args()
    {"make": make, "unet": time_unet, "image": image}[a.cmd](a)


if __name__ == "__main__":
    main()
