// SD3.5-layout pipeline (tiny, test/fixtures) against diffusers' StableDiffusion3Pipeline: prompt
// embeddings, the latents after every step, and the PNG within 1/255, with T5 and without it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import { loadSd3Folder, type Sd3Sources } from '../pipelines/recipes/sd3/sources.ts';
import { Sd3TextEncoders } from '../pipelines/recipes/sd3/text.ts';
import { Sd3Pipeline } from '../pipelines/recipes/sd3/pipeline.ts';
import { runGenerate } from '../pipelines/recipes/generate.ts';
import { listHeads } from '../pipelines/heads/tools.ts';
import { GenerateRequestSchema } from '../pipelines/jobs/api.ts';
import { relL2, sd3TinyFolder, skipWithoutFixtures } from './fixtures.ts';

const own = (...p: string[]) => resolve(import.meta.dirname, 'fixtures', ...p);
const skip = skipWithoutFixtures;
const runs = JSON.parse(readFileSync(own('sd3-tiny-golden.json'), 'utf8')).runs as Record<string, { prompt: string; negative_prompt: string; guidance_scale: number; num_inference_steps: number; height: number; width: number; max_sequence_length: number; seed: number }>;

const sd3Folder = sd3TinyFolder;

async function pngPixels(file: string): Promise<Uint8Array> {
  return new Uint8Array(await sharp(file).removeAlpha().raw().toBuffer());
}

for (const [name, withoutT5] of [['t5', false], ['no_t5', true]] as const) {
  test(`SD3 run ${name === 't5' ? 'with' : 'without'} T5: embeddings, every step's latents and the PNG match diffusers`, { skip }, async (t) => {
    const run = runs[name];
    const golden = SafetensorsFile.open(own('sd3-tiny-golden.safetensors'));
    const sources: Sd3Sources = loadSd3Folder(sd3Folder(), { withoutT5 });
    assert.equal(sources.t5 === undefined, withoutT5);

    const encoders = await Sd3TextEncoders.create(sources, run.max_sequence_length);
    const text = await encoders.encode([run.negative_prompt, run.prompt]);
    await encoders.release();
    const half = text.context.length / 2;
    const ctxErr = relL2(text.context.subarray(half), golden.readFloat32(`${name}_prompt_embeds`));
    const negErr = relL2(text.context.subarray(0, half), golden.readFloat32(`${name}_negative_prompt_embeds`));
    const pooledErr = relL2(text.pooled.subarray(text.pooled.length / 2), golden.readFloat32(`${name}_pooled`));
    assert.ok(ctxErr < 1e-4 && negErr < 1e-4 && pooledErr < 1e-4, `prompt embeddings rel-L2 ${ctxErr} / ${negErr}, pooled ${pooledErr}`);

    const pipe = new Sd3Pipeline(sources);
    const result = await pipe.generate({
      prompt: run.prompt, negative: run.negative_prompt, cfg: run.guidance_scale, steps: run.num_inference_steps,
      width: run.width, height: run.height, seed: run.seed, t5Tokens: run.max_sequence_length,
    });
    await pipe.release();
    const latents = golden.readFloat32(`${name}_latents`);
    const per = latents.length / run.num_inference_steps;
    assert.equal(result.latentsPerStep.length, run.num_inference_steps);
    const stepErrs = result.latentsPerStep.map((l, i) => relL2(l, latents.subarray(i * per, (i + 1) * per)));
    assert.ok(stepErrs.every((e) => e < 1e-3), `latents rel-L2 per step ${stepErrs}`);

    const ours = Uint8Array.from(result.images, (v) => Math.round(v * 255));
    const theirs = await pngPixels(own(`sd3-tiny-${name}.png`));
    assert.equal(ours.length, theirs.length);
    let maxDiff = 0;
    let sum = 0;
    for (let i = 0; i < ours.length; i++) {
      const d = Math.abs(ours[i] - theirs[i]);
      maxDiff = Math.max(maxDiff, d);
      sum += d;
    }
    t.diagnostic(`embeddings ${ctxErr.toExponential(2)}, pooled ${pooledErr.toExponential(2)}, latents per step ${stepErrs.map((e) => e.toExponential(2)).join(' ')}, PNG max |Δ| ${maxDiff}/255, mean ${(sum / ours.length).toFixed(4)}/255`);
    assert.ok(maxDiff <= 1, `PNG differs by up to ${maxDiff}/255`);
  });
}

test('studio generate on an SD3 folder: the sd3 family draws a batch with CFG and SoftPAG heads; SD3 methods it lacks are refused', { skip }, async () => {
  const model = sd3Folder();
  const base = { model, prompt: 'a red cat', steps: 2, width: 64, height: 64, cfg: 3 };
  const r = await runGenerate(GenerateRequestSchema.parse({ ...base, batch: 2, seed: 5, pag: { scale: 2, heads: [{ layer: 1, head: 0, strength: 0.5 }, { layer: 4, head: 3, strength: 1 }] } }));
  assert.equal(r.model.family, 'sd3');
  assert.equal(r.settings?.sampler, 'flow_euler');
  assert.equal(r.images.length, 2);
  assert.deepEqual([r.images[0].width, r.images[0].height], [64, 64]);
  assert.notDeepEqual(r.images[0].pixels, r.images[1].pixels);
  const plain = await runGenerate(GenerateRequestSchema.parse({ ...base, batch: 1, seed: 5 }));
  assert.notDeepEqual(plain.images[0].pixels, r.images[0].pixels, 'the heads change the image');
  await assert.rejects(runGenerate(GenerateRequestSchema.parse({ ...base, sampler: 'ddim' })), /sampler ddim does not apply to .*Stable Diffusion 3/);
  await assert.rejects(runGenerate(GenerateRequestSchema.parse({ ...base, clipSkip: 2 })), /--clip-skip does not apply/);
});

test('heads list on SD3: block i attn then attn2 on dual blocks, 4 heads each, fingerprinted as sd3', { skip }, () => {
  const list = listHeads({ model: sd3Folder() });
  assert.equal(list.family, 'sd3');
  assert.deepEqual(list.layers.map((l) => `${l.index}:${l.name}:${l.heads}`), [
    '0:transformer_blocks.0.attn:4', '1:transformer_blocks.0.attn2:4', '2:transformer_blocks.1.attn:4', '3:transformer_blocks.1.attn2:4', '4:transformer_blocks.2.attn:4',
  ]);
});
