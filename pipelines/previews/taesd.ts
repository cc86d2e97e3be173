// TAESD previews: the user's tiny-autoencoder decoder files, found beside their models
// (`<models dir>/vae_approx/<name>_decoder.safetensors|.pth`, where A1111 and ComfyUI keep them) or named
// in the request. One session per latent size, kept for the next generation.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SafetensorsFile } from '../io/safetensors.ts';
import { TorchPtFile } from '../io/torch-pt.ts';
import { buildTaesdDecoderGraph, taesdLayout } from '../models/taesd/decoder.ts';
import { Session, tensor } from '../runtime/session.ts';
import { toNhwc01, toRgb8 } from '../recipes/images.ts';
import { BadRequestError } from '../jobs/api.ts';
import type { LatentPreviewer } from './latent-rgb.ts';

/** TAESD's decoder names per latent space (taesd: SD1/SD2, taesdxl: SDXL, taesd3: SD3, taef1: FLUX.1). */
export type TaesdName = 'taesd' | 'taesdxl' | 'taesd3' | 'taef1';

/** The decoder file for `name` in `<modelsDir>/vae_approx/`, if the user has one. */
export function findTaesd(name: TaesdName, modelsDir: string | undefined): string | undefined {
  if (!modelsDir) return undefined;
  return ['safetensors', 'pth'].map((ext) => join(modelsDir, 'vae_approx', `${name}_decoder.${ext}`)).find((f) => existsSync(f));
}

const openWeights = (file: string) => (file.endsWith('.pth') || file.endsWith('.pt') ? TorchPtFile.open(file) : SafetensorsFile.open(file));

const previewers = new Map<string, LatentPreviewer>();

/** A previewer over a TAESD decoder file; the file is checked now (layout and latent channels). */
export function taesdPreviewer(file: string, latentChannels: number): LatentPreviewer {
  const cached = previewers.get(file);
  if (cached) return cached;
  const weights = openWeights(file);
  const layout = taesdLayout(weights);
  if (layout.latentChannels !== latentChannels) {
    throw new BadRequestError(`${file}: this TAESD decoder takes ${layout.latentChannels} latent channels and the model draws ${latentChannels}: use the decoder made for this model family (taesd for SD1/SD2, taesdxl for SDXL, taesd3 for SD3, taef1 for FLUX.1)`);
  }
  const sessions = new Map<string, Promise<Session>>();
  const previewer: LatentPreviewer = async (latents, height, width) => {
    const key = `${height}x${width}`;
    let session = sessions.get(key);
    if (!session) sessions.set(key, (session = Session.create(buildTaesdDecoderGraph(weights, height, width))));
    const first = latents.subarray(0, latentChannels * height * width);
    const image = (await (await session).run({ latents: tensor(first.slice(), [1, latentChannels, height, width]) })).image.data as Float32Array;
    // The decoder draws [0, 1]; toNhwc01 takes the VAE's [−1, 1].
    const side = { h: height * layout.scale, w: width * layout.scale };
    return toRgb8(toNhwc01(image.map((v) => v * 2 - 1), 1, side.h, side.w), 0, side.w, side.h);
  };
  previewers.set(file, previewer);
  return previewer;
}
