// The latent→RGB map of a VAE, fitted through the VAE itself: a colour chart the studio draws (64 flat
// colours in 16-pixel squares, aligned with the latent grid) is encoded, and each latent pixel is paired
// with the colour of the 8×8 image block it covers. Encoding a chart is one small encoder run (128²);
// decoding random latents instead would fit the decoder's texture on off-distribution inputs, which a
// linear map cannot follow. The fit is cached per VAE (a SHA-256 of its latent-side weights and config).
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import type { Vae } from '../models/vae/vae.ts';
import { vaeScale } from '../models/vae/config.ts';
import { fitLatentRgb, type LatentRgbMap } from './latent-rgb.ts';

/** Image side of the chart: 8 × 8 squares of 16 pixels. */
const CHART = 128;
const SQUARE = 16;
const LEVELS = [-1, -1 / 3, 1 / 3, 1];

/** The chart as [1, 3, 128, 128] in [−1, 1]: square (i, j) has colour index 8i + j over 4 levels per channel. */
export function colourChart(): Float32Array {
  const plane = CHART * CHART;
  const out = new Float32Array(3 * plane);
  const per = CHART / SQUARE;
  for (let y = 0; y < CHART; y++) {
    for (let x = 0; x < CHART; x++) {
      const colour = Math.floor(y / SQUARE) * per + Math.floor(x / SQUARE);
      for (let c = 0; c < 3; c++) out[c * plane + y * CHART + x] = LEVELS[Math.floor(colour / 4 ** c) % 4];
    }
  }
  return out;
}

/** `image` [3, H, W] averaged over scale×scale blocks: [3, H/scale, W/scale]. */
function pool(image: Float32Array, side: number, scale: number): Float32Array {
  const s = side / scale;
  const out = new Float32Array(3 * s * s);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) out[c * s * s + Math.floor(y / scale) * s + Math.floor(x / scale)] += image[c * side * side + y * side + x];
  }
  for (let i = 0; i < out.length; i++) out[i] /= scale * scale;
  return out;
}

/** Names of the tensors next to the latent space: enough to tell VAEs apart without hashing gigabytes. */
const LATENT_SIDE = ['quant_conv.weight', 'post_quant_conv.weight', 'encoder.conv_out.weight', 'decoder.conv_in.weight'];

function vaeKey(vae: Vae): string {
  const hash = createHash('sha256').update(JSON.stringify(vae.config));
  for (const name of LATENT_SIDE.filter((n) => vae.source.has(n))) {
    const info = vae.source.info(name);
    const bytes = Buffer.alloc(info.byteLength);
    const fd = openSync(info.file, 'r');
    try {
      readSync(fd, bytes, 0, info.byteLength, info.offset);
    } finally {
      closeSync(fd);
    }
    hash.update(name).update(bytes);
  }
  return hash.digest('hex');
}

const fits = new Map<string, Promise<LatentRgbMap>>();

/** The VAE's latent→RGB map, fitted on first use and then shared by every pipeline with the same VAE. */
export function vaeLatentRgb(vae: Vae): Promise<LatentRgbMap> {
  const key = vaeKey(vae);
  let fit = fits.get(key);
  if (!fit) {
    fit = fitThroughVae(vae);
    fits.set(key, fit);
    fit.catch(() => fits.delete(key));
  }
  return fit;
}

async function fitThroughVae(vae: Vae): Promise<LatentRgbMap> {
  const chart = colourChart();
  const encoded = await vae.encode({ data: chart, dims: [1, 3, CHART, CHART] });
  return fitLatentRgb(encoded.latents.data, pool(chart, CHART, vaeScale(vae.config)), vae.config.latentChannels);
}
