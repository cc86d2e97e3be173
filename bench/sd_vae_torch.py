# diffusers' AutoencoderKL in Stable Diffusion's VAE layout, with the weights of a safetensors file (the studio's
# random bench weights, bench/lib/vae-tensors.ts), on the GPU in the given dtype: what the VAE benches compare to.
import torch
from safetensors.torch import load_file
from diffusers import AutoencoderKL


def sd_vae(weights, dtype):
    vae = AutoencoderKL(block_out_channels=[128, 256, 512, 512], down_block_types=['DownEncoderBlock2D'] * 4,
                        up_block_types=['UpDecoderBlock2D'] * 4, layers_per_block=2, latent_channels=4, sample_size=512)
    missing, unexpected = vae.load_state_dict(load_file(weights), strict=False)
    if missing or unexpected:
        print(f'(weights: {len(missing)} missing, {len(unexpected)} unexpected)')
    return vae.to('cuda', dtype).eval()
