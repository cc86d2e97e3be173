// FLUX.1 whole runs (tiny, test/fixtures) against diffusers' FluxPipeline: dev from a diffusers folder
// (guidance 3.5, resolution-dependent shift) and schnell from Black Forest Labs' single-file layout; the
// prompt embeddings, every step's latents and the PNG within 1/255. Bad input: a file without its text
// encoders, guidance given to schnell.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import { FluxMissingPartError, loadFluxFolder, loadFluxSingleFile, type FluxSources } from '../pipelines/recipes/flux/sources.ts';
import { detectPath } from '../pipelines/checkpoints/detect.ts';
import { runGenerate } from '../pipelines/recipes/generate.ts';
import { GenerateRequestSchema } from '../pipelines/jobs/api.ts';
import { listHeads } from '../pipelines/heads/tools.ts';
import { FluxTextEncoders } from '../pipelines/recipes/flux/text.ts';
import { FluxPipeline } from '../pipelines/recipes/flux/pipeline.ts';
import { getSampler } from '../pipelines/samplers/index.ts';
import { flowShiftMu } from '../pipelines/samplers/flow-euler.ts';
import { linspace } from '../pipelines/samplers/numpy-compat.ts';
import { fixture, relL2, skipWithoutFixtures } from './fixtures.ts';

const own = (...p: string[]) => resolve(import.meta.dirname, 'fixtures', ...p);
const skip = skipWithoutFixtures;
type Run = { scheduler: Record<string, unknown>; prompt: string; guidance_scale: number; num_inference_steps: number; height: number; width: number; max_sequence_length: number; seed: number; timesteps: number[] };
const runs = JSON.parse(readFileSync(own('flux-tiny-golden.json'), 'utf8')).runs as Record<'dev' | 'schnell', Run>;
const golden = SafetensorsFile.open(own('flux-tiny-golden.safetensors'));

/**
 * The tiny FLUX folder: its own transformer, VAE and scheduler, the project's tiny CLIP-L and T5 from the
 * SD3 fixture (the goldens were made with them) and CLIP's tokenizer from ../shared/fixtures.
 */
export function fluxFolder(): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'flux-tiny-')), 'flux-tiny');
  cpSync(own('flux-tiny'), dir, { recursive: true });
  cpSync(own('sd3-tiny', 'text_encoder'), join(dir, 'text_encoder'), { recursive: true });
  cpSync(own('sd3-tiny', 'text_encoder_3'), join(dir, 'text_encoder_2'), { recursive: true });
  cpSync(own('sd3-tiny', 'tokenizer_3'), join(dir, 'tokenizer_2'), { recursive: true });
  cpSync(fixture('sdxl-tiny', 'tokenizer'), join(dir, 'tokenizer'), { recursive: true });
  return dir;
}

/** Unpacked latents [1, C, 2r, 2c] → FluxPipeline's packed tokens [1, r·c, C·4]. */
function packed(x: Float32Array, channels: number, height: number, width: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < height; y++) {
      for (let xx = 0; xx < width; xx++) out[((y >> 1) * (width / 2) + (xx >> 1)) * channels * 4 + c * 4 + (y % 2) * 2 + (xx % 2)] = x[(c * height + y) * width + xx];
    }
  }
  return out;
}

async function checkRun(t: { diagnostic(s: string): void }, name: 'dev' | 'schnell', sources: FluxSources): Promise<void> {
  const run = runs[name];
  const encoders = await FluxTextEncoders.create(sources, run.max_sequence_length);
  const text = await encoders.encode([run.prompt]);
  await encoders.release();
  const ctxErr = relL2(text.context, golden.readFloat32(`${name}_prompt_embeds`));
  const pooledErr = relL2(text.pooled, golden.readFloat32(`${name}_pooled`));
  assert.ok(ctxErr < 1e-4 && pooledErr < 1e-4, `prompt embeddings rel-L2 ${ctxErr}, pooled ${pooledErr}`);

  const pipe = new FluxPipeline(sources);
  const result = await pipe.generate({
    prompt: run.prompt, cfg: run.guidance_scale, steps: run.num_inference_steps, width: run.width, height: run.height, seed: run.seed, t5Tokens: run.max_sequence_length,
  });
  await pipe.release();
  const latents = golden.readFloat32(`${name}_latents`);
  const per = latents.length / run.num_inference_steps;
  const [h, w] = [run.height / 2, run.width / 2];
  assert.equal(result.latentsPerStep.length, run.num_inference_steps);
  const stepErrs = result.latentsPerStep.map((l, i) => relL2(packed(l, 16, h, w), latents.subarray(i * per, (i + 1) * per)));
  assert.ok(stepErrs.every((e) => e < 1e-3), `latents rel-L2 per step ${stepErrs}`);

  const ours = Uint8Array.from(result.images, (v) => Math.round(v * 255));
  const theirs = new Uint8Array(await sharp(own(`flux-tiny-${name}.png`)).removeAlpha().raw().toBuffer());
  assert.equal(ours.length, theirs.length);
  let maxDiff = 0;
  for (let i = 0; i < ours.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ours[i] - theirs[i]));
  t.diagnostic(`T5 ${ctxErr.toExponential(2)}, pooled ${pooledErr.toExponential(2)}, latents per step ${stepErrs.map((e) => e.toExponential(2)).join(' ')}, PNG max |Δ| ${maxDiff}/255`);
  assert.ok(maxDiff <= 1, `PNG differs by up to ${maxDiff}/255`);
}

test('FLUX.1-dev run from a diffusers folder: embeddings, every step\'s latents and the PNG match diffusers', { skip }, async (t) => {
  const sources = loadFluxFolder(fluxFolder());
  assert.equal(sources.variant, 'dev');
  await checkRun(t, 'dev', sources);
});

test('FLUX.1-schnell run from a Black Forest Labs single file (bf16, transformer only) completed by a components folder', { skip }, async (t) => {
  const sources = loadFluxSingleFile(own('flux-schnell-tiny.safetensors'), { componentsDir: fluxFolder() });
  assert.deepEqual([sources.variant, sources.layout, sources.transformerConfig.guidanceEmbeds, sources.scheduler.use_dynamic_shifting], ['schnell', 'single-file', false, false]);
  await checkRun(t, 'schnell', sources);
});

test('flow_euler with FluxPipeline\'s sigmas: dev\'s resolution-dependent shift and schnell\'s none give diffusers\' sigmas exactly', () => {
  for (const [name, tokens] of [['dev', 96], ['schnell', 64]] as const) {
    const { scheduler, num_inference_steps: steps } = runs[name];
    const plan = getSampler('flow_euler').plan({ ...scheduler, sigmas: linspace(1, 1 / steps, steps), mu: flowShiftMu(scheduler, tokens) }, steps);
    assert.deepEqual(plan.sigmas, [...golden.readFloat32(`${name}_sigmas`)], name);
  }
  assert.throws(() => getSampler('flow_euler').plan({ ...runs.dev.scheduler }, 3), /use_dynamic_shifting needs mu/);
});

test('studio generate on a FLUX.1-dev folder: the flux family draws a batch with its guidance and SoftPAG heads; a negative prompt is noted as ignored', { skip }, async () => {
  const model = fluxFolder();
  const base = { model, prompt: 'a red cat', steps: 2, width: 64, height: 64, seed: 5 };
  assert.equal(detectPath(model).family, 'flux');
  const r = await runGenerate(GenerateRequestSchema.parse({ ...base, batch: 2, cfg: 3.5, negative: 'blurry', pag: { scale: 2, heads: [{ layer: 1, head: 0, strength: 0.5 }, { layer: 3, head: 1, strength: 1 }] } }));
  assert.deepEqual([r.model.family, r.settings?.sampler, r.settings?.cfg, r.images.length], ['flux', 'flow_euler', 3.5, 2]);
  assert.notDeepEqual(r.images[0].pixels, r.images[1].pixels);
  assert.ok(r.notes?.some((n) => /no negative prompt/.test(n)), `notes: ${r.notes}`);
  const plain = await runGenerate(GenerateRequestSchema.parse({ ...base, cfg: 3.5 }));
  assert.notDeepEqual(plain.images[0].pixels, r.images[0].pixels, 'the heads change the image');
  const otherGuidance = await runGenerate(GenerateRequestSchema.parse({ ...base, cfg: 7 }));
  assert.notDeepEqual(plain.images[0].pixels, otherGuidance.images[0].pixels, 'dev takes the guidance scale as an input');
  await assert.rejects(runGenerate(GenerateRequestSchema.parse({ ...base, sampler: 'ddim' })), /sampler ddim does not apply to .*FLUX/);
});

test('guidance given to FLUX.1-schnell: drawn without it (same pixels as cfg 0) and a note says it was ignored; components beside the file or named by --config', { skip }, async () => {
  // The file beside its components folder, named like it, as users lay them out.
  const dir = mkdtempSync(join(tmpdir(), 'flux-schnell-'));
  cpSync(own('flux-schnell-tiny.safetensors'), join(dir, 'flux1-schnell.safetensors'));
  symlinkSync(fluxFolder(), join(dir, 'flux1-schnell'));
  const model = join(dir, 'flux1-schnell.safetensors');
  assert.match(detectPath(model).description, /FLUX\.1-schnell checkpoint \(transformer, no text encoders\)/);
  const base = { model, prompt: 'a red cat', steps: 2, width: 64, height: 64, seed: 5 };
  const guided = await runGenerate(GenerateRequestSchema.parse({ ...base, cfg: 3.5 }));
  // The same file alone, its components folder named by --config.
  const alone = join(mkdtempSync(join(tmpdir(), 'flux-alone-')), 'schnell.safetensors');
  cpSync(own('flux-schnell-tiny.safetensors'), alone);
  const plain = await runGenerate(GenerateRequestSchema.parse({ ...base, model: alone, config: fluxFolder() }));
  assert.deepEqual([plain.settings?.cfg, plain.notes], [0, undefined]);
  assert.ok(guided.notes?.some((n) => /FLUX\.1-schnell has no guidance input.*cfg 3\.5 was ignored/.test(n)), `notes: ${guided.notes}`);
  assert.deepEqual(guided.images[0].pixels, plain.images[0].pixels);
});

test('a FLUX file without its text encoders: the error names CLIP-L and T5 and where to put text_encoder/ and text_encoder_2/', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flux-alone-'));
  const file = join(dir, 'flux1-dev.safetensors');
  cpSync(own('flux-schnell-tiny.safetensors'), file);
  assert.throws(() => loadFluxSingleFile(file), (e: Error) => {
    assert.ok(e instanceof FluxMissingPartError, String(e));
    assert.match(e.message, /FLUX\.1-schnell transformer without its text encoders \(CLIP-L and T5 missing/);
    assert.ok(e.message.includes(`text_encoder/ (CLIP-L) and text_encoder_2/ (T5 v1.1 XXL), with tokenizer/ and tokenizer_2/, in ${join(dir, 'flux1-dev')}/ beside the file`), e.message);
    assert.match(e.message, /--config/);
    return true;
  });
  assert.throws(() => loadFluxSingleFile(own('sd3-tiny-single-file.safetensors')), /is not a FLUX\.1 single file: it has no double_blocks\.\* tensors/);
});

test('heads list on FLUX: each double block\'s joint attn, then each single block\'s, 2 heads each, fingerprinted as flux', { skip }, () => {
  const list = listHeads({ model: fluxFolder() });
  assert.equal(list.family, 'flux');
  assert.deepEqual(list.layers.map((l) => `${l.index}:${l.name}:${l.heads}`), [
    '0:transformer_blocks.0.attn:2', '1:transformer_blocks.1.attn:2', '2:single_transformer_blocks.0.attn:2', '3:single_transformer_blocks.1.attn:2',
  ]);
});
