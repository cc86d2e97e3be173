// SD3 single files: Stability's layout (`model.diffusion_model.joint_blocks.*`, fused qkv, swapped
// final scale/shift) made on the GPU machine from the tiny model and checked there against diffusers'
// own converter; here it must give the diffusers folder's run, with its config read from the tensors.
// Bundled text encoders (`text_encoders.clip_l|clip_g|t5xxl.transformer.*`) and a file without them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../pipelines/io/safetensors.ts';
import { readJsonObject } from '../pipelines/checkpoints/json-fields.ts';
import { detectPath } from '../pipelines/checkpoints/detect.ts';
import { mmditConfigFromDiffusers } from '../pipelines/models/mmdit/config.ts';
import { loadSd3SingleFile, Sd3MissingPartError } from '../pipelines/recipes/sd3/single-file.ts';
import { Sd3TextEncoders } from '../pipelines/recipes/sd3/text.ts';
import { Sd3Pipeline } from '../pipelines/recipes/sd3/pipeline.ts';
import { fixture, relL2, skipWithoutFixtures } from './fixtures.ts';

const own = (...p: string[]) => resolve(import.meta.dirname, 'fixtures', ...p);
const skip = skipWithoutFixtures;
const run = JSON.parse(readFileSync(own('sd3-tiny-golden.json'), 'utf8')).runs.t5;
const golden = SafetensorsFile.open(own('sd3-tiny-golden.safetensors'));

/** A folder with `file` and, beside it, `<name>/` holding the listed parts of the tiny SD3 folder + CLIP tokenizers. */
function besideFolder(name: string, file: string, parts: readonly string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'sd3-single-'));
  cpSync(file, join(dir, `${name}.safetensors`));
  const comp = join(dir, name);
  mkdirSync(comp);
  for (const p of parts) cpSync(own('sd3-tiny', p), join(comp, p), { recursive: true });
  cpSync(own('sd3-tiny', 'model_index.json'), join(comp, 'model_index.json'));
  cpSync(fixture('sdxl-tiny', 'tokenizer'), join(comp, 'tokenizer'), { recursive: true });
  cpSync(fixture('sdxl-tiny', 'tokenizer_2'), join(comp, 'tokenizer_2'), { recursive: true });
  return join(dir, `${name}.safetensors`);
}

test('SD3 single file: transformer config read from the tensors equals the diffusers config', { skip }, () => {
  const path = besideFolder('sd35', own('sd3-tiny-single-file.safetensors'), ['vae', 'text_encoder', 'text_encoder_2', 'scheduler']);
  const s = loadSd3SingleFile(path, { withoutT5: true });
  const folderCfg = mmditConfigFromDiffusers(readJsonObject(own('sd3-tiny', 'transformer', 'config.json')), 'folder');
  assert.deepEqual(s.transformerConfig, folderCfg);
  assert.equal(s.t5, undefined);
});

test('SD3 single file (transformer only, other parts beside it): the whole run matches diffusers', { skip }, async (t) => {
  const path = besideFolder('sd35', own('sd3-tiny-single-file.safetensors'), ['vae', 'text_encoder', 'text_encoder_2', 'text_encoder_3', 'tokenizer_3', 'scheduler']);
  const pipe = new Sd3Pipeline(loadSd3SingleFile(path));
  const r = await pipe.generate({ prompt: run.prompt, negative: run.negative_prompt, cfg: run.guidance_scale, steps: run.num_inference_steps, width: run.width, height: run.height, seed: run.seed, t5Tokens: run.max_sequence_length });
  await pipe.release();
  const latents = golden.readFloat32('t5_latents');
  const per = latents.length / run.num_inference_steps;
  const errs = r.latentsPerStep.map((l, i) => relL2(l, latents.subarray(i * per, (i + 1) * per)));
  t.diagnostic(`latents per step ${errs.map((e) => e.toExponential(2)).join(' ')}`);
  assert.ok(errs.length === run.num_inference_steps && errs.every((e) => e < 1e-3), `${errs}`);
});

test('SD3 single file without its text encoders: a clear error naming what to add', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'sd3-bare-'));
  const path = join(dir, 'sd3_medium.safetensors');
  cpSync(own('sd3-tiny-single-file.safetensors'), path);
  assert.throws(() => loadSd3SingleFile(path), (e: Error) =>
    e instanceof Sd3MissingPartError && /without its CLIP text encoders \(CLIP-L and CLIP-G missing; T5 is optional\)/.test(e.message) &&
    /incl_clips/.test(e.message) && /text_encoder\/ and text_encoder_2\//.test(e.message) && e.message.includes(join(dir, 'sd3_medium')));
  rmSync(dir, { recursive: true });
});

test('SD3 single file with bundled CLIP-L, CLIP-G and T5: prompt embeddings match diffusers', { skip }, async (t) => {
  const tensors: Record<string, TensorToWrite> = {};
  const add = (file: string, prefix: string) => {
    const f = SafetensorsFile.open(file);
    for (const k of f.keys()) {
      const i = f.info(k);
      tensors[prefix + k] = { dtype: i.dtype, shape: [...i.shape], data: f.readBytes(k) };
    }
  };
  add(own('sd3-tiny-single-file.safetensors'), '');
  add(own('sd3-tiny', 'text_encoder', 'model.safetensors'), 'text_encoders.clip_l.transformer.');
  add(own('sd3-tiny', 'text_encoder_2', 'model.safetensors'), 'text_encoders.clip_g.transformer.');
  add(own('sd3-tiny', 'text_encoder_3', 'model.safetensors'), 'text_encoders.t5xxl.transformer.');
  const bundled = join(mkdtempSync(join(tmpdir(), 'sd3-bundle-')), 'bundle.safetensors');
  writeSafetensors(bundled, tensors);
  // Beside it only configs, the VAE and tokenizers: the encoders' weights must come from the file.
  const path = besideFolder('sd35', bundled, ['vae', 'tokenizer_3', 'scheduler']);
  const comp = path.replace(/\.safetensors$/, '');
  for (const c of ['text_encoder', 'text_encoder_2', 'text_encoder_3']) {
    mkdirSync(join(comp, c));
    cpSync(own('sd3-tiny', c, 'config.json'), join(comp, c, 'config.json'));
  }
  const s = loadSd3SingleFile(path);
  assert.ok(s.t5 && s.clipL.source.path === path && s.t5.source.path === path);
  const enc = await Sd3TextEncoders.create(s, run.max_sequence_length);
  const text = await enc.encode([run.negative_prompt, run.prompt]);
  await enc.release();
  const err = relL2(text.context.subarray(text.context.length / 2), golden.readFloat32('t5_prompt_embeds'));
  const pooledErr = relL2(text.pooled.subarray(text.pooled.length / 2), golden.readFloat32('t5_pooled'));
  t.diagnostic(`embeddings ${err.toExponential(2)}, pooled ${pooledErr.toExponential(2)}`);
  assert.ok(err < 1e-4 && pooledErr < 1e-4, `${err} / ${pooledErr}`);
});

test('SD3 detection: a diffusers folder and a single file (with the parts it bundles named)', () => {
  assert.equal(detectPath(own('sd3-tiny')).family, 'sd3');
  const d = detectPath(own('sd3-tiny-single-file.safetensors'));
  assert.deepEqual([d.family, d.layout], ['sd3', 'single-file']);
  assert.match(d.description, /SD3 checkpoint \(MMDiT, no text encoders\)/);
});
