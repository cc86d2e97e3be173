// An SD 2.x single file as people have them: original layout with the OpenCLIP text tower
// (`cond_stage_model.model.transformer.resblocks.*`, stacked `in_proj_weight`), its diffusers config
// folder beside it saying v-prediction, and a tokenizer shared from the models folder while the config
// folder's tokenizer_config.json says to pad with `!`. Golden: diffusers' from_single_file on the same file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixture, skipWithoutFixtures } from './fixtures.ts';
import { SdPipeline } from '../pipelines/recipes/sd/pipeline.ts';
import { loadPipelineSources } from '../pipelines/checkpoints/index.ts';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../pipelines/io/safetensors.ts';
import { goldens, LORA_FIXTURES, meanAbs255, runs, sharedTokenizerModelsDir } from './lora-helpers.ts';

const skip = skipWithoutFixtures;
const FILE = join(LORA_FIXTURES, 'sd2-tiny-v.safetensors');

test('the OpenCLIP-layout SD 2.x single file with its config folder matches diffusers (v-prediction, ! padding)', { skip }, async () => {
  const models = sharedTokenizerModelsDir();
  const pipe = SdPipeline.load(FILE, { modelsDir: models });
  try {
    assert.equal(pipe.sources.predictionType, 'v_prediction');
    assert.match(pipe.sources.predictionReason, /sd2-tiny-v.scheduler/);
    assert.deepEqual(pipe.sources.tokenizerPads, ['!']);
    const run = runs().sd2_v;
    const r = await pipe.generate({ prompt: run.prompt, negative: run.negative_prompt, steps: run.num_inference_steps, cfg: run.guidance_scale, sampler: 'euler', seed: run.seed, width: run.width, height: run.height });
    const d = meanAbs255(r.images, goldens().readFloat32('sd2_v_image'));
    assert.ok(d <= 1, `image differs from diffusers by ${d.toFixed(3)}/255 on average`);
  } finally {
    await pipe.release();
    rmSync(models, { recursive: true, force: true });
  }
});

test('the missing-config error names the <stem>/ folder and --config; --config DIR supplies the settings', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'studio-sd2-'));
  const models = sharedTokenizerModelsDir();
  try {
    const bare = join(dir, 'bare.safetensors');
    copyFileSync(FILE, bare);
    // The tiny UNet's widths are not multiples of 64: its head counts need the config.
    assert.throws(() => loadPipelineSources(bare, { modelsDir: models }), /bare\/, or give one with --config FILE_OR_DIR/);
    const withConfig = loadPipelineSources(bare, { modelsDir: models, configDir: join(LORA_FIXTURES, 'sd2-tiny-v') });
    assert.equal(withConfig.predictionType, 'v_prediction');
    assert.match(withConfig.predictionReason, /scheduler_config/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(models, { recursive: true, force: true });
  }
});

test('modelspec metadata and an A1111 <stem>.yaml decide the prediction type of a single file without a config folder', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'studio-spec-'));
  const models = sharedTokenizerModelsDir();
  try {
    const src = SafetensorsFile.open(fixture('sd15-tiny-single-file.safetensors'));
    const tensors: Record<string, TensorToWrite> = {};
    for (const k of src.keys()) tensors[k] = { dtype: src.info(k).dtype, shape: src.info(k).shape, data: src.readBytes(k) };
    // Configs without a scheduler (the tiny widths need head counts), so that nothing else names the prediction.
    const configs = join(dir, 'configs');
    for (const part of ['unet', 'vae', 'text_encoder']) {
      mkdirSync(join(configs, part), { recursive: true });
      copyFileSync(fixture('sd15-tiny', part, 'config.json'), join(configs, part, 'config.json'));
    }
    const spec = join(dir, 'spec.safetensors');
    writeSafetensors(spec, tensors, { 'modelspec.prediction_type': 'v' });
    const s = loadPipelineSources(spec, { modelsDir: models, configDir: configs });
    assert.equal(s.predictionType, 'v_prediction');
    assert.match(s.predictionReason, /modelspec\.prediction_type = v/);
    const plain = join(dir, 'plain.safetensors');
    writeSafetensors(plain, tensors);
    assert.equal(loadPipelineSources(plain, { modelsDir: models, configDir: configs }).predictionType, 'epsilon');
    writeFileSync(join(dir, 'plain.yaml'), 'model:\n  params:\n    parameterization: "v"\n');
    const y = loadPipelineSources(plain, { modelsDir: models, configDir: configs });
    assert.equal(y.predictionType, 'v_prediction');
    assert.match(y.predictionReason, /plain\.yaml says parameterization: v/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(models, { recursive: true, force: true });
  }
});
