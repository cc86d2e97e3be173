// PixArt-Σ and PixArt-α transformers against diffusers' PixArtTransformer2DModel at t = 1/500/999 with
// a T5 attention mask (test/fixtures, made by bench/goldens/make_sd3_pixart.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import { readJsonObject } from '../pipelines/checkpoints/json-fields.ts';
import { pixartConfigFromDiffusers } from '../pipelines/models/pixart/config.ts';
import { buildPixArtGraph, PIXART_OUTPUT } from '../pipelines/models/pixart/model.ts';
import { Session, ort, tensor } from '../pipelines/runtime/session.ts';
import { PixArtPipeline } from '../pipelines/recipes/pixart/pipeline.ts';
import { runGenerate } from '../pipelines/recipes/generate.ts';
import { GenerateRequestSchema } from '../pipelines/jobs/api.ts';
import { relL2 } from './fixtures.ts';

const own = (...p: string[]) => resolve(import.meta.dirname, 'fixtures', ...p);
const golden = SafetensorsFile.open(own('pixart-tiny-transformer-golden.safetensors'));

for (const [name, folder] of [['sigma', own('pixart-sigma-tiny', 'transformer')], ['alpha', own('pixart-alpha-tiny-transformer')]] as const) {
  test(`PixArt-${name === 'sigma' ? 'Σ' : 'α'} transformer matches diffusers at t = 1, 500, 999 (masked T5 tokens, bf16 weights)`, async (t) => {
    const cfg = pixartConfigFromDiffusers(readJsonObject(join(folder, 'config.json')), folder);
    assert.equal(cfg.additionalConditions, name === 'alpha');
    const graph = buildPixArtGraph(SafetensorsFile.open(join(folder, 'diffusion_pytorch_model.safetensors')), cfg, { batch: 2, height: 16, width: 16, textLength: 32 });
    const session = await Session.create(graph);
    const m = golden.readBytes('mask');
    const mask = new ort.Tensor('int32', Int32Array.from(new BigInt64Array(m.buffer, m.byteOffset, m.byteLength / 8), Number), [2, 32]);
    const errs: number[] = [];
    for (const ts of [1, 500, 999]) {
      const feeds: Record<string, ort.Tensor> = {
        hidden_states: tensor(golden.readFloat32('x'), [2, 4, 16, 16]),
        timestep: tensor(new Float32Array([ts, ts]), [2]),
        encoder_hidden_states: tensor(golden.readFloat32('context'), [2, 32, 80]),
        encoder_attention_mask: mask,
      };
      if (cfg.additionalConditions) {
        feeds.resolution = tensor(new Float32Array([128, 128, 128, 128]), [2, 2]);
        feeds.aspect_ratio = tensor(new Float32Array([1, 1]), [2, 1]);
      }
      const out = (await session.run(feeds))[PIXART_OUTPUT].data as Float32Array;
      errs.push(relL2(out, golden.readFloat32(`${name}_out_t${ts}`)));
    }
    await session.release();
    t.diagnostic(`rel-L2 ${errs.map((e) => e.toExponential(2)).join(' ')}`);
    assert.ok(errs.every((e) => e < 1e-4), `${errs}`);
  });
}

test('PixArt-Σ pipeline: T5 with mask, DPM-Solver++ with CFG on the learned-sigma output, PNG within 1/255 of diffusers', async (t) => {
  const run = readJsonObject(own('pixart-sigma-tiny-golden.json')).run as Record<string, never>;
  const g = SafetensorsFile.open(own('pixart-sigma-tiny-golden.safetensors'));
  const pipe = new PixArtPipeline(own('pixart-sigma-tiny'));
  const text = await pipe.encode([run.negative_prompt, run.prompt], run.max_sequence_length);
  const half = text.hidden.length / 2;
  const embErr = relL2(text.hidden.subarray(half), g.readFloat32('prompt_embeds'));
  const negErr = relL2(text.hidden.subarray(0, half), g.readFloat32('negative_prompt_embeds'));
  const r = await pipe.generate({ prompt: run.prompt, negative: run.negative_prompt, cfg: run.guidance_scale, steps: run.steps, width: run.width, height: run.height, seed: run.seed, t5Tokens: run.max_sequence_length });
  await pipe.release();
  const latents = g.readFloat32('latents');
  const per = latents.length / run.steps;
  const errs = r.latentsPerStep.map((l, i) => relL2(l, latents.subarray(i * per, (i + 1) * per)));
  const image = g.readFloat32('image');
  let maxDiff = 0;
  for (let i = 0; i < image.length; i++) maxDiff = Math.max(maxDiff, Math.abs(Math.round(r.image[i] * 255) - Math.round(image[i] * 255)));
  t.diagnostic(`T5 embeddings ${embErr.toExponential(2)} / negative ${negErr.toExponential(2)}, latents per step ${errs.map((e) => e.toExponential(2)).join(' ')}, PNG max |Δ| ${maxDiff}/255`);
  assert.ok(embErr < 1e-4 && negErr < 1e-4, `${embErr} ${negErr}`);
  assert.ok(errs.length === run.steps && errs.every((e) => e < 1e-3), `${errs}`);
  assert.ok(maxDiff <= 1, `PNG differs by ${maxDiff}/255`);
});

test('studio generate on a PixArt folder: the pixart family draws it; flow samplers are refused', async () => {
  const base = { model: own('pixart-sigma-tiny'), prompt: 'a robot', steps: 2, width: 64, height: 64, cfg: 3 };
  const r = await runGenerate(GenerateRequestSchema.parse({ ...base, sampler: 'ddim' }));
  assert.equal(r.model.family, 'pixart');
  assert.deepEqual([r.images.length, r.images[0].width, r.images[0].height], [1, 64, 64]);
  assert.ok(new Set(r.images[0].pixels).size > 10, 'image is not flat');
  await assert.rejects(runGenerate(GenerateRequestSchema.parse({ ...base, sampler: 'flow_euler' })), /sampler flow_euler does not apply to .*PixArt/);
});
