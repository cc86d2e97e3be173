// LoRA and LyCORIS files against diffusers + peft (goldens made by test/fixtures/lora/make-goldens.py):
// kohya LoRA with LoCon convolutions, LoHa, LoKr and peft LoRAs on the tiny SD 1.x and SDXL pipelines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fixture, skipWithoutFixtures } from './fixtures.ts';
import { SdPipeline } from '../pipelines/recipes/sd/pipeline.ts';
import type { LoraRequest } from '../pipelines/lora/apply.ts';
import { expectGolden, generateLike, LORA_FIXTURES } from './lora-helpers.ts';

const skip = skipWithoutFixtures;
async function check(model: string, name: string, loras: LoraRequest[]): Promise<void> {
  const pipe = SdPipeline.load(fixture(model), { loras });
  try {
    await expectGolden(pipe, await generateLike(pipe, name), name);
  } finally {
    await pipe.release();
  }
}

const lora = (file: string, weight: number): LoraRequest => ({ path: join(LORA_FIXTURES, file), weight });

test('SD 1.x: the base run matches diffusers (the goldens are sound)', { skip }, () => check('sd15-tiny', 'sd15_base', []));
test('SD 1.x: kohya LoRA with LoCon convolutions at 0.8 matches the reference merge', { skip }, () => check('sd15-tiny', 'sd15_kohya_locon_w0.8', [lora('sd15-kohya-locon.safetensors', 0.8)]));
test('SD 1.x: peft LoRA at 0.7 matches diffusers + peft', { skip }, () => check('sd15-tiny', 'sd15_peft_w0.7', [lora('sd15-peft.safetensors', 0.7)]));
test('SD 1.x: LyCORIS LoHa matches the reference merge', { skip }, () => check('sd15-tiny', 'sd15_loha_w1', [lora('sd15-loha.safetensors', 1)]));
test('SD 1.x: LyCORIS LoKr matches the reference merge', { skip }, () => check('sd15-tiny', 'sd15_lokr_w1', [lora('sd15-lokr.safetensors', 1)]));
test('SDXL: the base run matches diffusers', { skip }, () => check('sdxl-tiny', 'sdxl_base', []));
test('SDXL: kohya LoRA (lora_te1_/lora_te2_, LoCon) matches the reference merge', { skip }, () => check('sdxl-tiny', 'sdxl_kohya_locon_w1', [lora('sdxl-kohya-locon.safetensors', 1)]));
test('SDXL: peft LoRA on the UNet and both text encoders at 0.6 matches diffusers + peft', { skip }, () => check('sdxl-tiny', 'sdxl_peft_w0.6', [lora('sdxl-peft.safetensors', 0.6)]));
