// The goldens of test/fixtures/ip-adapter/make_goldens.py (IP-Adapter on sd15-tiny / sdxl-tiny, and the
// SD 2.x / SDXL ControlNets of test/fixtures/controlnet/sd2 and sdxl): 64², 5 steps, seed 0.
import { join } from 'node:path';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import type { SdGenerateOptions } from '../pipelines/recipes/sd/pipeline.ts';

export const IP_FIXTURES = join(import.meta.dirname, 'fixtures', 'ip-adapter');
export const ipGoldens = (): SafetensorsFile => SafetensorsFile.open(join(IP_FIXTURES, 'goldens.safetensors'));

/** What every run shares; sd15 runs DDIM at CFG 7.5, SDXL and SD 2.x Euler (CFG 5 and 7.5). */
export const GOLDEN_RUN: SdGenerateOptions = {
  prompt: 'a red apple on a wooden table', negative: 'blurry, watermark',
  steps: 5, cfg: 7.5, sampler: 'ddim', seed: 0, width: 64, height: 64,
};
