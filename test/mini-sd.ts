// The sd15-mini pipeline of test/fixtures/controlnet (UNet, VAE, scheduler made with the ControlNet goldens)
// with the sd15-tiny text encoder and tokenizer of ../shared/fixtures, assembled in a temporary folder, and
// helpers to compare runs with the goldens of test/fixtures/controlnet/make-goldens.py.
import { mkdtempSync, symlinkSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { fixture } from './fixtures.ts';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import type { SdGenerateOptions } from '../pipelines/recipes/sd/pipeline.ts';

export const CONTROLNET_FIXTURES = resolve(import.meta.dirname, 'fixtures', 'controlnet');
export const INPAINT9_FIXTURES = resolve(import.meta.dirname, 'fixtures', 'inpaint9');

/** A diffusers folder: sd15-mini's parts, `unet` from `unetDir` when given (the 9-channel inpainting UNet). */
export function miniPipelineDir(unetDir = join(CONTROLNET_FIXTURES, 'sd15-mini', 'unet')): string {
  const dir = mkdtempSync(join(tmpdir(), 'sd15-mini-'));
  const mini = join(CONTROLNET_FIXTURES, 'sd15-mini');
  for (const part of ['model_index.json', 'scheduler', 'vae']) symlinkSync(join(mini, part), join(dir, part));
  symlinkSync(unetDir, join(dir, 'unet'));
  for (const part of ['text_encoder', 'tokenizer']) symlinkSync(fixture('sd15-tiny', part), join(dir, part));
  return dir;
}

export const goldens = (): SafetensorsFile => SafetensorsFile.open(join(CONTROLNET_FIXTURES, 'goldens.safetensors'));
export const goldenRuns = (): Record<string, Record<string, unknown>> =>
  (JSON.parse(readFileSync(join(CONTROLNET_FIXTURES, 'goldens.json'), 'utf8')) as { runs: Record<string, Record<string, unknown>> }).runs;

/** The settings every golden run shares (goldens.json). */
export const MINI_RUN: SdGenerateOptions = {
  prompt: 'a red apple on a wooden table',
  negative: 'a cat wearing sunglasses, digital art',
  steps: 5, cfg: 7.5, sampler: 'ddim', seed: 0, width: 128, height: 128,
};

/** Largest per-channel difference, in 1/255 steps, between an NHWC [0, 1] image and a golden PNG. */
export async function maxPngDiff(images: Float32Array, png: string): Promise<number> {
  const { data } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  let worst = 0;
  for (let i = 0; i < data.length; i++) worst = Math.max(worst, Math.abs(Math.round(images[i] * 255) - data[i]));
  return worst;
}
