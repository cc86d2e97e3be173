// PixArt-Σ's KV compression, LiT's linear attention (in LiT's release layout, and inheriting PixArt's
// weights) and PAG / SoftPAG on PixArt, against the goldens of bench/goldens/make_pixart_methods.py:
// plain PyTorch references of KV compression, LiT and SoftPAG run inside diffusers' PixArtTransformer2DModel,
// and diffusers' own PixArtSigmaPAGPipeline. The tiny PixArt-Σ is test/fixtures/pixart-sigma-tiny.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../pipelines/io/safetensors.ts';
import { TorchPtFile } from '../pipelines/io/torch-pt.ts';
import { readJsonObject } from '../pipelines/checkpoints/json-fields.ts';
import type { KeyedSource } from '../pipelines/checkpoints/sources.ts';
import { pixartConfigFromDiffusers, type PixArtConfig } from '../pipelines/models/pixart/config.ts';
import { buildPixArtGraph, PIXART_OUTPUT } from '../pipelines/models/pixart/model.ts';
import { pixartAttentionLayers } from '../pipelines/models/pixart/self-attention.ts';
import { headWeightsData, HEAD_WEIGHTS_INPUT, wholeLayerPicks } from '../pipelines/attention/head-perturbation.ts';
import { Session, ort, tensor } from '../pipelines/runtime/session.ts';
import { PixArtPipeline } from '../pipelines/recipes/pixart/pipeline.ts';
import { InheritedSource, pixartSources } from '../pipelines/recipes/pixart/sources.ts';
import { matchPagLayers } from '../pipelines/models/unet/layers.ts';
import { runGenerate } from '../pipelines/recipes/generate.ts';
import { GenerateRequestSchema } from '../pipelines/jobs/api.ts';
import { listHeads } from '../pipelines/heads/tools.ts';
import { relL2 } from './fixtures.ts';

const own = (...p: string[]) => resolve(import.meta.dirname, 'fixtures', ...p);
const methods = (f: string) => own('pixart-methods', f);
const tiny = own('pixart-sigma-tiny');
const baseConfig = readJsonObject(join(tiny, 'transformer', 'config.json'));
const baseWeights = () => SafetensorsFile.open(join(tiny, 'transformer', 'diffusion_pytorch_model.safetensors'));
const TIMESTEPS = [1, 500, 999];

/** The transformer on the golden's 8×12 latent (batch 2, 32 masked T5 tokens) at t = 1/500/999: rel-L2 per timestep. */
async function transformerErrors(source: KeyedSource, cfg: PixArtConfig, goldenFile: string, prefix: string, perturbation?: Float32Array): Promise<number[]> {
  const golden = SafetensorsFile.open(methods(goldenFile));
  const graph = buildPixArtGraph(source, cfg, { batch: 2, height: 8, width: 12, textLength: 32, perturbedRows: perturbation ? 1 : 0 });
  const session = await Session.create(graph);
  const m = golden.readBytes('mask');
  const feeds: Record<string, ort.Tensor> = {
    hidden_states: tensor(golden.readFloat32('x'), [2, 4, 8, 12]),
    encoder_hidden_states: tensor(golden.readFloat32('context'), [2, 32, 80]),
    encoder_attention_mask: new ort.Tensor('int32', Int32Array.from(new BigInt64Array(m.buffer, m.byteOffset, m.byteLength / 8), Number), [2, 32]),
  };
  if (perturbation) feeds[HEAD_WEIGHTS_INPUT] = tensor(perturbation, [cfg.numLayers, cfg.heads]);
  const errs: number[] = [];
  for (const ts of TIMESTEPS) {
    const out = (await session.run({ ...feeds, timestep: tensor(new Float32Array([ts, ts]), [2]) }))[PIXART_OUTPUT].data as Float32Array;
    errs.push(relL2(out, golden.readFloat32(`${prefix}_t${ts}`)));
  }
  await session.release();
  return errs;
}

const kvConfig = (sampling: string) =>
  pixartConfigFromDiffusers({ ...baseConfig, kv_compress: true, kv_compress_config: { sampling, scale_factor: 2, kv_compress_layer: [1] } }, 'kv test config');

for (const sampling of ['conv', 'ave', 'uniform', 'uniform_every']) {
  test(`PixArt-Σ KV compression (${sampling}, scale 2, layer 1) matches the PyTorch reference at t = 1, 500, 999`, async (t) => {
    const source = new InheritedSource(SafetensorsFile.open(methods('kv-compress-weights.safetensors')), baseWeights());
    const errs = await transformerErrors(source, kvConfig(sampling), 'kv-compress-golden.safetensors', sampling);
    t.diagnostic(`rel-L2 ${errs.map((e) => e.toExponential(2)).join(' ')}`);
    assert.ok(errs.every((e) => e < 1e-5), `${errs}`);
  });
}

test('KV compression bad input: an unknown sampling, a layer out of range, a grid the scale does not divide and missing conv weights are named', async () => {
  assert.throws(() => kvConfig('bilinear'), /sampling "bilinear" is not one of PixArt-Σ's conv, ave, uniform, uniform_every/);
  assert.throws(() => pixartConfigFromDiffusers({ ...baseConfig, kv_compress_config: { sampling: 'conv', scale_factor: 2, kv_compress_layer: [5] } }, 'cfg'), /names layers 5, but the model has layers 0–1/);
  const source = new InheritedSource(SafetensorsFile.open(methods('kv-compress-weights.safetensors')), baseWeights());
  assert.throws(() => buildPixArtGraph(source, kvConfig('conv'), { batch: 1, height: 6, width: 8, textLength: 32 }), /3×4 token grid is not divisible by its scale_factor 2/);
  assert.throws(() => buildPixArtGraph(baseWeights(), kvConfig('conv'), { batch: 1, height: 8, width: 8, textLength: 32 }), /"conv" needs the trained transformer_blocks\.1\.attn1\.sr and transformer_blocks\.1\.attn1\.norm weights/);
});

/** A folder `<dir>/<stem>/` holding the tiny PixArt-Σ's parts, beside which a transformer file `<stem>.*` goes. */
function besideTiny(stem: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'pixart-lit-'));
  cpSync(tiny, join(dir, stem), { recursive: true });
  return dir;
}

test("LiT in LiT's release layout (PixArt's own names, .pth): linear attention with 2 heads and a 5×5 DWC matches the PyTorch reference", async (t) => {
  const dir = besideTiny('lit-tiny');
  try {
    cpSync(methods('lit-tiny.pth'), join(dir, 'lit-tiny.pth'));
    const sources = pixartSources(join(dir, 'lit-tiny.pth'));
    assert.match(sources.description, /^LiT weights from lit-tiny\.pth over lit-tiny\//);
    const cfg = pixartConfigFromDiffusers(baseConfig, 'cfg');
    assert.deepEqual(pixartAttentionLayers(cfg, sources.transformer).map((l) => l.heads), [2, 2]);
    const errs = await transformerErrors(sources.transformer, cfg, 'lit-golden.safetensors', 'lit');
    t.diagnostic(`rel-L2 ${errs.map((e) => e.toExponential(2)).join(' ')}`);
    assert.ok(errs.every((e) => e < 1e-5), `${errs}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("LiT weight inheritance: a file of LiT's q/kv/dwc alone takes every other tensor (and proj) from the PixArt folder beside it", async (t) => {
  const dir = besideTiny('lit-attention-only');
  try {
    const pth = TorchPtFile.open(methods('lit-tiny.pth'));
    const kept: Record<string, TensorToWrite> = {};
    for (const k of pth.keys().filter((k) => /\.attn\.(q|kv|dwc)\./.test(k))) kept[k] = { dtype: pth.info(k).dtype, shape: [...pth.info(k).shape], data: pth.readBytes(k) };
    writeSafetensors(join(dir, 'lit-attention-only.safetensors'), kept);
    const sources = pixartSources(join(dir, 'lit-attention-only.safetensors'));
    const errs = await transformerErrors(sources.transformer, pixartConfigFromDiffusers(baseConfig, 'cfg'), 'lit-golden.safetensors', 'lit');
    t.diagnostic(`${Object.keys(kept).length} tensors in the file; rel-L2 ${errs.map((e) => e.toExponential(2)).join(' ')}`);
    assert.ok(errs.every((e) => e < 1e-5), `${errs}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a PixArt / LiT transformer file without its components folder is refused, naming the folder to add', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pixart-lit-'));
  try {
    cpSync(methods('lit-tiny.pth'), join(dir, 'lit-xl.pth'));
    assert.throws(() => pixartSources(join(dir, 'lit-xl.pth')), /a LiT transformer file holds no T5, VAE or scheduler; put a diffusers PixArt-Σ folder .* beside it named lit-xl\//);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('SoftPAG on PixArt: per-head (1−u)·attention + u·V on the perturbed row matches the float64 reference', async (t) => {
  const cfg = pixartConfigFromDiffusers(baseConfig, 'cfg');
  const u = SafetensorsFile.open(methods('softpag-golden.safetensors')).readFloat32('u');
  const errs = await transformerErrors(baseWeights(), cfg, 'softpag-golden.safetensors', 'softpag', u);
  t.diagnostic(`rel-L2 ${errs.map((e) => e.toExponential(2)).join(' ')}`);
  assert.ok(errs.every((e) => e < 1e-5), `${errs}`);
});

for (const [name, cfgScale, pagScale] of [['pag_cfg', 4.5, 3], ['pag_alone', 1, 2]] as const) {
  test(`PAG on PixArt-Σ (layer blocks.1, CFG ${cfgScale}, PAG ${pagScale}) matches PixArtSigmaPAGPipeline: latents per step, PNG within 1/255`, async (t) => {
    const g = SafetensorsFile.open(methods('pag-golden.safetensors'));
    const pipe = new PixArtPipeline(tiny);
    const picks = wholeLayerPicks(pipe.layers, matchPagLayers(pipe.layers, ['blocks.1']));
    assert.deepEqual(headWeightsData(pipe.layers, picks), Float32Array.from([0, 0, 0, 1, 1, 1]));
    const r = await pipe.generate({ prompt: 'A Tiny Robot in the rain, watercolor', negative: '', cfg: cfgScale, steps: 4, width: 32, height: 32, seed: 3, t5Tokens: 32, heads: { scale: pagScale, picks } });
    await pipe.release();
    const latents = g.readFloat32(`${name}_latents`);
    const per = latents.length / 4;
    const errs = r.latentsPerStep.map((l, i) => relL2(l, latents.subarray(i * per, (i + 1) * per)));
    const image = g.readFloat32(`${name}_image`);
    let maxDiff = 0;
    for (let i = 0; i < image.length; i++) maxDiff = Math.max(maxDiff, Math.abs(Math.round(r.image[i] * 255) - Math.round(image[i] * 255)));
    t.diagnostic(`latents per step ${errs.map((e) => e.toExponential(2)).join(' ')}, PNG max |Δ| ${maxDiff}/255`);
    assert.ok(errs.length === 4 && errs.every((e) => e < 1e-4), `${errs}`);
    assert.ok(maxDiff <= 1, `PNG differs by ${maxDiff}/255`);
  });
}

test('studio generate: a LiT .pth beside its PixArt folder is the pixart family (noted), PAG by layer name changes the image; heads list shows LiT\'s 2 heads', async () => {
  const dir = besideTiny('lit-tiny');
  try {
    cpSync(methods('lit-tiny.pth'), join(dir, 'lit-tiny.pth'));
    const model = join(dir, 'lit-tiny.pth');
    const base = { model, prompt: 'a robot', steps: 2, width: 64, height: 64, cfg: 3, seed: 4 };
    const plain = await runGenerate(GenerateRequestSchema.parse(base));
    assert.equal(plain.model.family, 'pixart');
    assert.ok(plain.notes?.some((n) => /transformer: LiT weights from lit-tiny\.pth over lit-tiny\//.test(n)), `${plain.notes}`);
    const pag = await runGenerate(GenerateRequestSchema.parse({ ...base, pag: { scale: 2, layers: ['blocks.1'] } }));
    assert.notDeepEqual(pag.images[0].pixels, plain.images[0].pixels, 'PAG changes the image');
    const list = listHeads({ model });
    assert.equal(list.family, 'pixart');
    assert.deepEqual(list.layers.map((l) => `${l.index}:${l.name}:${l.heads}`), ['0:transformer_blocks.0.attn1:2', '1:transformer_blocks.1.attn1:2']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
