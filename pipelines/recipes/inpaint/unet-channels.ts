// The input of inpainting UNets (diffusers' StableDiffusionInpaintPipeline with a 9-channel conv_in).
/** Each row's latents followed by the mask and its image's masked-image latents (diffusers' torch.cat on channels). */
export function withInpaintChannels(latents: Float32Array, extra: { mask: Float32Array; maskedLatents: Float32Array }, images: number, rows: number): Float32Array {
  const plane = extra.mask.length;
  const per = latents.length / rows;
  const maskedImages = extra.maskedLatents.length / per;
  const out = new Float32Array(rows * (2 * per + plane));
  for (let r = 0; r < rows; r++) {
    const at = r * (2 * per + plane);
    out.set(latents.subarray(r * per, (r + 1) * per), at);
    out.set(extra.mask, at + per);
    const m = (r % images) % maskedImages;
    out.set(extra.maskedLatents.subarray(m * per, (m + 1) * per), at + per + plane);
  }
  return out;
}
