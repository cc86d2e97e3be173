// IP-Adapter against diffusers (test/fixtures/ip-adapter, made by its make_goldens.py): the CLIP image
// processor and vision tower, the base and Plus projections, whole runs on sd15-tiny (base, Plus) and
// sdxl-tiny; the .bin file reads as the .safetensors one; wrong family and a missing encoder are refused.
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { clipVisionConfigFromHf } from '../pipelines/models/clip/config.ts';
import { buildClipVisionGraph, IMAGE_EMBEDS, PENULTIMATE, PIXEL_VALUES } from '../pipelines/models/clip/vision-model.ts';
import { inferClipVisionConfig } from '../pipelines/checkpoints/clip-vision.ts';
import { readJsonObject } from '../pipelines/checkpoints/json-fields.ts';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import { clipImagePixels } from '../pipelines/recipes/ip-adapter/clip-image.ts';
import { SdPipeline, type SdGenerateOptions } from '../pipelines/recipes/sd/pipeline.ts';
import { Session, tensor } from '../pipelines/runtime/session.ts';
import { fixture, relL2, skipWithoutFixtures } from './fixtures.ts';
import { GOLDEN_RUN, IP_FIXTURES, ipGoldens } from './ip-adapter-helpers.ts';
import { maxPngDiff } from './mini-sd.ts';

const skip = skipWithoutFixtures;
const ENCODER = join(IP_FIXTURES, 'image-encoder');
const IMAGE = join(IP_FIXTURES, 'ip-image.png');
const adapter = (name: string) => join(IP_FIXTURES, name);

test('CLIP image processing and the vision tower match transformers', async (t) => {
  const g = ipGoldens();
  const golden = g.readFloat32('pixel_values');
  const mine = await clipImagePixels(IMAGE, 32);
  const e0 = Math.max(...golden.map((v, i) => Math.abs(v - mine[i])));
  assert.ok(e0 < 1e-6, `pixel values differ by up to ${e0}`);

  const cfg = clipVisionConfigFromHf(readJsonObject(join(ENCODER, 'config.json')), ENCODER);
  const session = await Session.create(buildClipVisionGraph(SafetensorsFile.open(join(ENCODER, 'model.safetensors')), cfg, { batch: 1 }));
  const out = await session.run({ [PIXEL_VALUES]: tensor(golden, [1, 3, 32, 32]) });
  const e1 = relL2(out[IMAGE_EMBEDS].data as Float32Array, g.readFloat32('image_embeds'));
  const e2 = relL2(out[PENULTIMATE].data as Float32Array, g.readFloat32('hidden_penultimate'));
  assert.ok(e1 < 1e-5 && e2 < 1e-5, `image_embeds rel-L2 ${e1}, penultimate ${e2}`);
  await session.release();
});

const runs = [
  { name: 'sd15_ip', model: 'sd15-tiny', file: 'ip-adapter_sd15.safetensors', scale: 0.6, run: {} },
  { name: 'sd15_ip_plus', model: 'sd15-tiny', file: 'ip-adapter-plus_sd15.safetensors', scale: 0.8, run: {} },
  { name: 'sdxl_ip', model: 'sdxl-tiny', file: 'ip-adapter_sdxl.safetensors', scale: 0.7, run: { sampler: 'euler', cfg: 5 } },
] as const;

for (const r of runs) {
  test(`${r.name}: image tokens and the whole run match diffusers (PNG within 1/255)`, { skip }, async (t) => {
    const pipe = SdPipeline.load(fixture(r.model));
    const g = ipGoldens();
    const ip = pipe.ipAdapter(adapter(r.file), ENCODER, r.model);
    const tokens = await ip.tokens(g.readFloat32('pixel_values'));
    const e = relL2(tokens, g.readFloat32(`${r.name}_projected`));
    assert.ok(e < 1e-5, `projected tokens rel-L2 ${e}`);
    const options: SdGenerateOptions = { ...GOLDEN_RUN, ...r.run, imagePrompt: { adapter: ip, pixels: await clipImagePixels(IMAGE, ip.imageSize), scale: r.scale } };
    const out = await pipe.generate(options);
    const latents = relL2(out.latentsPerStep.at(-1)!, g.readFloat32(`${r.name}_final_latents`));
    const png = await maxPngDiff(out.images, join(IP_FIXTURES, `${r.name}.png`));
    t.diagnostic(`tokens rel-L2 ${e.toExponential(2)}, final latents rel-L2 ${latents.toExponential(2)}, PNG max ${png}/255`);
    assert.ok(latents < 1e-3, `final latents rel-L2 ${latents}`);
    assert.ok(png <= 1, `PNG differs by ${png}/255`);
    const plain = await pipe.generate({ ...options, imagePrompt: { ...options.imagePrompt!, scale: 0 } });
    const golden = g.readFloat32(`${r.model.startsWith('sdxl') ? 'sdxl' : 'sd15'}_plain_final_latents`);
    assert.ok(relL2(plain.latentsPerStep.at(-1)!, golden) < 1e-3, 'scale 0 draws what the model draws without the adapter');
    await pipe.release();
  });
}

test('the .bin adapter (weights-only loader) gives the tokens of the .safetensors one', { skip }, async () => {
  const pipe = SdPipeline.load(fixture('sd15-tiny'));
  const pixels = ipGoldens().readFloat32('pixel_values');
  const fromBin = await pipe.ipAdapter(adapter('ip-adapter_sd15.bin'), ENCODER, 'sd15-tiny').tokens(pixels);
  const fromSafetensors = await pipe.ipAdapter(adapter('ip-adapter_sd15.safetensors'), ENCODER, 'sd15-tiny').tokens(pixels);
  assert.deepEqual(fromBin, fromSafetensors);
  await pipe.release();
});

test('a lone CLIP vision .safetensors (ComfyUI\'s clip_vision) runs with the config its shapes give; the known towers', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'clip-vision-'));
  const lone = join(dir, 'clip_vision_tiny.safetensors');
  copyFileSync(join(ENCODER, 'model.safetensors'), lone);
  const sd15 = SdPipeline.load(fixture('sd15-tiny'));
  // The tiny tower is none of the known ones: its heads cannot be read from the weights.
  assert.throws(() => sd15.ipAdapter(adapter('ip-adapter_sd15.safetensors'), lone, 'sd15-tiny'), /no config\.json beside it, and a 32-wide vision tower is none of OpenAI ViT-L\/14, OpenCLIP ViT-H\/14, OpenCLIP ViT-bigG\/14.*: put its config\.json beside it/);
  copyFileSync(join(ENCODER, 'config.json'), join(dir, 'clip_vision_tiny.json'));
  const pixels = ipGoldens().readFloat32('pixel_values');
  const beside = await sd15.ipAdapter(adapter('ip-adapter_sd15.safetensors'), lone, 'sd15-tiny').tokens(pixels);
  assert.ok(relL2(beside, ipGoldens().readFloat32('sd15_ip_projected')) < 1e-5);
  await sd15.release();
  // OpenCLIP ViT-H/14 (IP-Adapter's SD 1.5 encoder), by its shapes alone.
  const vitH: Record<string, number[]> = {
    'vision_model.embeddings.class_embedding': [1280], 'vision_model.embeddings.patch_embedding.weight': [1280, 3, 14, 14],
    'vision_model.embeddings.position_embedding.weight': [257, 1280], 'vision_model.encoder.layers.0.mlp.fc1.weight': [5120, 1280],
    'visual_projection.weight': [1024, 1280],
  };
  for (let i = 0; i < 32; i++) vitH[`vision_model.encoder.layers.${i}.layer_norm1.weight`] = [1280];
  assert.deepEqual(inferClipVisionConfig(Object.keys(vitH), (k) => vitH[k]), {
    hiddenSize: 1280, intermediateSize: 5120, numLayers: 32, numHeads: 16, hiddenAct: 'gelu', layerNormEps: 1e-5, imageSize: 224, patchSize: 14, projectionDim: 1024,
  });
});

test('an IP-Adapter of another family is refused naming both; a missing image encoder names what to add', { skip }, () => {
  const sd15 = SdPipeline.load(fixture('sd15-tiny'));
  assert.throws(() => sd15.ipAdapter(adapter('ip-adapter_sdxl.safetensors'), ENCODER, 'sd15-tiny'),
    /--ip-adapter .*ip-adapter_sdxl\.safetensors: this IP-Adapter is for a UNet with 64-wide text, but the model sd15-tiny is a UNet with 32-wide text: use an IP-Adapter made for a UNet with 32-wide text/);
  const sdxl = SdPipeline.load(fixture('sdxl-tiny'));
  assert.throws(() => sdxl.ipAdapter(adapter('ip-adapter_sd15.safetensors'), ENCODER, 'sdxl-tiny'),
    /this IP-Adapter is for a UNet with 32-wide text, but the model sdxl-tiny is Stable Diffusion XL: use an IP-Adapter made for Stable Diffusion XL/);
  const alone = join(mkdtempSync(join(tmpdir(), 'ip-alone-')), 'ip-adapter_sd15.safetensors');
  copyFileSync(adapter('ip-adapter_sd15.safetensors'), alone);
  assert.throws(() => sd15.ipAdapter(alone, undefined, 'sd15-tiny'), /IP-Adapter needs the CLIP image encoder it was trained with: add --image-encoder DIR/);
  assert.throws(() => sd15.ipAdapter(alone, join(IP_FIXTURES, 'nowhere'), 'sd15-tiny'), /--image-encoder .*nowhere: no such file or folder/);
  assert.throws(() => sd15.ipAdapter(join(IP_FIXTURES, 'ip-image.png'), ENCODER, 'sd15-tiny'), /expected a .safetensors or .bin IP-Adapter file/);
  assert.throws(() => sd15.ipAdapter(join(ENCODER, 'model.safetensors'), ENCODER, 'sd15-tiny'), /this is not an IP-Adapter \(it needs image_proj\.\* and ip_adapter\.\* tensors\)/);
});
