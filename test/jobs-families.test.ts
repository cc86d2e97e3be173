// The jobs API, the registry of model families and the engine's one entry (pipelines/jobs/run.ts):
// real fixtures recognised by their family, requests refused when a method does not apply to the
// model, and jobs run through `run` in this process and through a real engine host (worker thread).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { FAMILIES, checkRequest, methodNames, resolveModel } from '../pipelines/families/registry.ts';
import { workerHost } from '../pipelines/host/launchers.ts';
import { BadRequestError, GenerateRequestSchema, JobSchema, parseJob, type GenerateRequestInput } from '../pipelines/jobs/api.ts';
import { EngineJobs } from '../pipelines/jobs/client.ts';
import { run } from '../pipelines/jobs/run.ts';
import { SAMPLER_NAMES } from '../pipelines/samplers/names.ts';
import { SAMPLERS } from '../pipelines/samplers/index.ts';
import { fixture, skipWithoutFixtures } from './fixtures.ts';

const request = (o: Partial<GenerateRequestInput> = {}) => GenerateRequestSchema.parse({ prompt: 'a cat face', seed: 1, ...o });

/** The registry's verdict on a request, before anything is loaded. */
function refusal(model: string | undefined, o: Partial<GenerateRequestInput>): string | undefined {
  const { family, probe } = resolveModel(model, undefined);
  try {
    checkRequest(family, probe, request({ model, ...o }), model);
    return undefined;
  } catch (e) {
    assert.ok(e instanceof BadRequestError, `${(e as Error).name}: ${(e as Error).message}`);
    return e.message;
  }
}

describe('the families registry', () => {
  test('every family has its own id, a label and defaults the request schema accepts', () => {
    const ids = FAMILIES.map((f) => f.id);
    assert.equal(new Set(ids).size, ids.length);
    for (const f of FAMILIES) {
      assert.ok(f.label.length > 0, f.id);
      const { width, height, steps, cfg, sampler } = f.defaults;
      GenerateRequestSchema.parse({ prompt: '', width, height, steps, cfg, sampler });
      assert.ok(f.methods.attention.includes('softmax'), `${f.id} runs the model as trained`);
    }
  });

  test('the built-in models are recognised by name, and without a model the default is emoji-lit', () => {
    assert.equal(resolveModel(undefined, undefined).family.id, 'emoji-lit');
    for (const name of ['emoji-lit', 'emoji-dit', 'emoji-dico']) assert.equal(resolveModel(name, undefined).family.id, name);
    assert.deepEqual(methodNames(resolveModel('emoji-dit', undefined).family), ['softmax', 'pag', 'softpag', 'ir-diffusion']);
    assert.deepEqual(methodNames(resolveModel('emoji-dico', undefined).family), ['softmax']);
  });

  test('checkpoints are recognised from their files: SD 1.x folder and single file, SDXL, DiT, DiCo', { skip: skipWithoutFixtures }, () => {
    const family = (name: string) => resolveModel(fixture(name), undefined).family.id;
    assert.equal(family('sd15-tiny'), 'sd1');
    assert.equal(family('sd15-tiny-single-file.safetensors'), 'sd1');
    assert.equal(family('sdxl-tiny'), 'sdxl');
    assert.equal(family('dit-tiny.safetensors'), 'dit');
    assert.equal(family('dico-tiny.safetensors'), 'dico');
    assert.ok(methodNames(resolveModel(fixture('sd15-tiny'), undefined).family).includes('agent'));
    assert.ok(!methodNames(resolveModel(fixture('sdxl-tiny'), undefined).family).includes('agent'));
    for (const name of ['sd15-tiny', 'sdxl-tiny']) assert.ok(methodNames(resolveModel(fixture(name), undefined).family).includes('ip-adapter'), `${name} takes image prompts (the UI's IP-Adapter panel reads this)`);
    assert.ok(!methodNames(resolveModel(fixture('dit-tiny.safetensors'), undefined).family).includes('ip-adapter'));
  });

  test('a file of no family is refused with what it holds and what runs', { skip: skipWithoutFixtures }, () => {
    assert.throws(() => resolveModel(fixture('sd15-tiny-linfusion'), undefined), (e: Error) => e instanceof BadRequestError && /LinFusion module .*; studio generate runs: .*Stable Diffusion 1\.x.*DiT/.test(e.message));
  });

  test('"this method does not apply to this model": size, sampler, img2img, attention, clip skip, VAE, class labels', { skip: skipWithoutFixtures }, () => {
    assert.match(refusal('emoji-lit', { width: 96, height: 96 }) ?? '', /^size 96×96 does not apply to the embedded emoji models \(emoji-lit\)/);
    assert.equal(refusal('emoji-lit', { width: 128, height: 128 }), undefined, '128×128 is drawn through the 2× upsampler');
    assert.match(refusal('emoji-dit', { sampler: 'ddim' }) ?? '', /^sampler ddim does not apply to the embedded emoji models/);
    assert.match(refusal('emoji-dit', { attention: { kind: 'agent' } }) ?? '', /^--attention agent does not apply/);
    assert.match(refusal('emoji-dit', { clipSkip: 2 }) ?? '', /^--clip-skip does not apply/);
    assert.match(refusal('emoji-dit', { classLabel: 3 }) ?? '', /^--class 3 applies to class-conditional models \(DiT, DiCo checkpoints\); emoji-dit is a text-to-image model/);
    assert.match(refusal(fixture('sdxl-tiny'), { attention: { kind: 'agent' } }) ?? '', /^--attention agent does not apply to .*sdxl-tiny \(Stable Diffusion XL\)/);
    assert.match(refusal(fixture('dit-tiny.safetensors'), { classLabel: 1, initImage: 'x.png' }) ?? '', /^img2img \(--init-image\) does not apply to dit-tiny: it is a class-conditional model/);
    assert.equal(refusal(fixture('sd15-tiny'), { attention: { kind: 'agent' }, clipSkip: 2, sampler: 'ddim', width: 128, height: 128 }), undefined);
    assert.equal(refusal('emoji-lit', { sampler: 'flow_euler', width: 64, height: 64 }), undefined);
  });
});

describe('the jobs API', () => {
  test('one union: a known kind is validated by its own schema, an unknown kind is refused', () => {
    assert.equal(JobSchema.parse({ kind: 'generate', request: { prompt: 'x', seed: 2 } }).kind, 'generate');
    assert.equal(JobSchema.safeParse({ kind: 'upscale' }).success, false);
    const bad = JobSchema.safeParse({ kind: 'generate', request: { prompt: 'x', steps: 0 } });
    assert.equal(bad.success, false);
    assert.deepEqual(bad.error?.issues[0].path, ['request', 'steps']);
    assert.equal(JobSchema.safeParse({ kind: 'heads.search', prompt: 'x', scale: 3, seeds: [0], k: 1, u: 1, rounds: 1, objective: { kind: 'image', name: 'beauty' } }).success, false);
  });

  test('PAG heads are a field of the request, kept by validation', () => {
    const r = request({ pag: { scale: 2, heads: [{ layer: 1, head: 0, strength: 0.5 }] } });
    assert.deepEqual(r.pag?.heads, [{ layer: 1, head: 0, strength: 0.5 }]);
  });

  test('the data-only sampler list names every sampler the engine has, in its order', () => {
    assert.deepEqual([...SAMPLER_NAMES], Object.keys(SAMPLERS));
  });
});

describe('run: the engine entry', () => {
  test('heads.list, heads.resolve and models.scan run in this process', async () => {
    const heads = await run(parseJob({ kind: 'heads.list', model: 'emoji-dit' }));
    assert.equal(heads.family, 'emoji-dit');
    assert.ok(heads.layers.length > 0 && heads.layers.every((l) => l.heads > 0));
    assert.equal(heads.fixedSize, 64);
    const dico = await run(parseJob({ kind: 'heads.list', model: 'emoji-dico' }));
    assert.deepEqual(dico.layers, []);
    assert.match(dico.message ?? '', /no self-attention heads/);

    const picks = await run(parseJob({ kind: 'heads.resolve', text: 'L1H0:0.5,L2', model: 'emoji-dit' }));
    assert.deepEqual(picks.slice(0, 1), [{ layer: 1, head: 0, strength: 0.5 }]);
    assert.equal(picks.length, 1 + heads.layers[2].heads);

    const dir = mkdtempSync(join(tmpdir(), 'jobs-scan-'));
    try {
      mkdirSync(join(dir, 'an-xl'));
      writeFileSync(join(dir, 'an-xl', 'model_index.json'), JSON.stringify({ _class_name: 'StableDiffusionXLPipeline' }));
      writeFileSync(join(dir, 'broken.safetensors'), 'not a checkpoint');
      const catalog = await run(parseJob({ kind: 'models.scan', dir }));
      assert.deepEqual(catalog.models.map((m) => [m.name, m.family]), [['an-xl', 'sdxl'], ['broken', undefined]]);
      assert.deepEqual(catalog.models[0].defaults, { steps: 20, cfg: 7.5, sampler: 'dpmpp_2m_karras', width: 1024, height: 1024 });
      assert.match(catalog.models[1].problem ?? '', /broken\.safetensors/);
      assert.equal(catalog.defaultModel, 'emoji-lit');
      assert.deepEqual(catalog.embedded.map((m) => [m.name, m.heads, m.story]), [['emoji-lit', true, false], ['emoji-dit', true, true], ['emoji-dico', false, false]]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('through a real engine host: generate with progress and previews; a bad request keeps its meaning', async () => {
    const engine = new EngineJobs({ host: workerHost() });
    try {
      const steps: number[] = [];
      let previews = 0;
      const result = await engine.submit(
        { kind: 'generate', request: { prompt: 'a smiling cat face', seed: 3, steps: 2 } },
        { progress: (p) => p.phase === 'denoise' && steps.push(p.step), preview: (img) => (previews += img.pixels.length === img.width * img.height * 3 ? 1 : 0) },
      );
      assert.deepEqual(steps, [1, 2]);
      assert.equal(previews, 2);
      assert.deepEqual([result.images.length, result.images[0].width, result.settings?.sampler], [1, 64, 'flow_euler']);
      // Settings made for SD models are mapped onto the built-in ones, with notes (pipelines/families/emoji-adapt.ts).
      const mapped = await engine.submit({ kind: 'generate', request: { prompt: 'a cat face', model: 'emoji-dit', sampler: 'ddim', steps: 1, width: 512, height: 768 } });
      assert.deepEqual([mapped.images[0].width, mapped.settings?.sampler], [128, 'flow_euler']);
      assert.match(mapped.notes?.join(' | ') ?? '', /sampler ddim is for Stable Diffusion models; emoji-dit samples with its own flow-matching Euler.*size 512×768: emoji-dit draws 64×64 or 128×128; drawing 128×128/);
      await assert.rejects(engine.submit({ kind: 'generate', request: { prompt: 'a cat face', model: 'emoji-dit', hiresFix: { scale: 2, denoise: 0.5, upscaler: 'lanczos' } } }), (e: Error) => e instanceof BadRequestError && /hires fix/.test(e.message));
      await assert.rejects(engine.submit({ kind: 'story', story: { subjects: [], scenes: [] }, studioVersion: '0', model: 'emoji-lit' }), BadRequestError);
    } finally {
      await engine.close();
    }
  });
});
