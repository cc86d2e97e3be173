// The tensors of a diffusers AutoencoderKL (Stable Diffusion's VAE layout), so a benchmark can write random
// weights of the real sizes without a checkpoint. Also SD's `vae/config.json`.
import type { VaeConfig } from '../../pipelines/models/vae/config.ts';
import { sdVaeConfig } from '../../pipelines/families/stable-diffusion-checkpoint.ts';
import { SpecList, type TensorSpec } from './unet-tensors.ts';

/** Stable Diffusion 1.x / 2.x / XL's VAE (SDXL's differs only in its scaling factor, 0.13025): the config the SD families write. */
export const SD_VAE_CONFIG = sdVaeConfig(512, 0.18215, false);

function resnet(s: SpecList, name: string, inp: number, out: number): void {
  s.norm(`${name}.norm1`, inp);
  s.conv(`${name}.conv1`, out, inp, 3);
  s.norm(`${name}.norm2`, out);
  s.conv(`${name}.conv2`, out, out, 3);
  if (inp !== out) s.conv(`${name}.conv_shortcut`, out, inp, 1);
}

function mid(s: SpecList, name: string, c: number): void {
  resnet(s, `${name}.resnets.0`, c, c);
  s.norm(`${name}.attentions.0.group_norm`, c);
  for (const p of ['to_q', 'to_k', 'to_v', 'to_out.0']) s.linear(`${name}.attentions.0.${p}`, c, c);
  resnet(s, `${name}.resnets.1`, c, c);
}

/** Every tensor of the VAE, with diffusers' names and shapes. */
export function vaeTensorSpecs(cfg: VaeConfig): TensorSpec[] {
  const s = new SpecList();
  const ch = cfg.blockOutChannels;
  const n = ch.length;
  const L = cfg.latentChannels;
  s.conv('encoder.conv_in', ch[0], cfg.inChannels, 3);
  let prev = ch[0];
  ch.forEach((out, i) => {
    for (let j = 0; j < cfg.layersPerBlock; j++) resnet(s, `encoder.down_blocks.${i}.resnets.${j}`, j === 0 ? prev : out, out);
    if (i < n - 1) s.conv(`encoder.down_blocks.${i}.downsamplers.0.conv`, out, out, 3);
    prev = out;
  });
  mid(s, 'encoder.mid_block', ch[n - 1]);
  s.norm('encoder.conv_norm_out', ch[n - 1]);
  s.conv('encoder.conv_out', 2 * L, ch[n - 1], 3);
  s.conv('quant_conv', 2 * L, 2 * L, 1);
  s.conv('post_quant_conv', L, L, 1);
  const rev = [...ch].reverse();
  s.conv('decoder.conv_in', rev[0], L, 3);
  mid(s, 'decoder.mid_block', rev[0]);
  prev = rev[0];
  rev.forEach((out, i) => {
    for (let j = 0; j <= cfg.layersPerBlock; j++) resnet(s, `decoder.up_blocks.${i}.resnets.${j}`, j === 0 ? prev : out, out);
    if (i < n - 1) s.conv(`decoder.up_blocks.${i}.upsamplers.0.conv`, out, out, 3);
    prev = out;
  });
  s.norm('decoder.conv_norm_out', rev[n - 1]);
  s.conv('decoder.conv_out', cfg.outChannels, rev[n - 1], 3);
  return s.specs;
}
