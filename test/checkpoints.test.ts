// Checkpoint loading: diffusers folders and single files give the same tensors and the same outputs,
// family detection on every fixture, SDXL / SD 2.x single-file layouts (built here from the tiny
// diffusers folders), VAE override, and the errors for inputs that are not a usable model.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../pipelines/io/safetensors.ts';
import {
  MissingTokenizerError,
  NotAModelError,
  detectPath,
  loadPipelineSources,
  unetDiffusersToOriginal,
  unetOriginalToDiffusers,
  vaeOriginalToDiffusers,
  type KeyedSource,
  type PipelineSources,
} from '../pipelines/checkpoints/index.ts';
import { originalLayersPerBlock } from '../pipelines/checkpoints/keymap-unet.ts';
import { originalDecoderLevels } from '../pipelines/checkpoints/keymap-vae.ts';
import { ClipTextEncoder } from '../pipelines/models/clip/encoder.ts';
import type { ClipGraphOptions } from '../pipelines/models/clip/text-model.ts';
import { Vae } from '../pipelines/models/vae/vae.ts';
import { fixture, relL2, skipWithoutFixtures } from './fixtures.ts';

const skip = skipWithoutFixtures;
const tmp = mkdtempSync(join(tmpdir(), 'studio-checkpoints-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const SINGLE = () => fixture('sd15-tiny-single-file.safetensors');

function raw(src: KeyedSource, name: string): TensorToWrite {
  const info = src.info(name);
  const buf = Buffer.alloc(info.byteLength);
  const fd = openSync(info.file, 'r');
  readSync(fd, buf, 0, info.byteLength, info.offset);
  closeSync(fd);
  return { dtype: info.dtype, shape: [...info.shape], data: buf };
}

function assertSameTensors(a: KeyedSource, b: KeyedSource, what: string): void {
  assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort(), `${what}: tensor names`);
  for (const k of a.keys()) {
    const [x, y] = [raw(a, k), raw(b, k)];
    // Original VAE checkpoints store the attention projections as 1×1 convolutions [C, C, 1, 1].
    const squeezed = (shape: number[]) => (shape.length === 4 && shape[2] === 1 && shape[3] === 1 && /attentions/.test(k) ? shape.slice(0, 2) : shape);
    assert.deepEqual(squeezed(y.shape), squeezed(x.shape), `${what}: ${k} shape`);
    assert.ok(Buffer.from(y.data.buffer).equals(Buffer.from(x.data.buffer)), `${what}: ${k} bytes differ`);
  }
}

function modelsDirWithTokenizer(): string {
  const dir = join(tmp, 'models');
  mkdirSync(join(dir, 'tokenizers', 'clip'), { recursive: true });
  for (const f of ['vocab.json', 'merges.txt']) copyFileSync(fixture('tokenizer', f), join(dir, 'tokenizers', 'clip', f));
  return dir;
}

const goldenIds = () => {
  const ids = SafetensorsFile.open(fixture('sd15-tiny-golden.safetensors')).readFloat32('text_encoder_ids');
  return [Array.from(ids.subarray(0, 77)), Array.from(ids.subarray(77, 154))];
};

async function encodeText(p: PipelineSources, i: number, o: ClipGraphOptions = {}) {
  const enc = await ClipTextEncoder.create(p.textEncoders[i], p.textConfigs[i], o);
  const out = await enc.encode(goldenIds());
  await enc.release();
  return out;
}

/** The OpenCLIP layout of a canonical CLIP text encoder (stacked q/k/v, [H, P] projection, own names). */
function toOpenClip(src: KeyedSource, prefix: string, extraLayerFrom?: number): Record<string, TensorToWrite> {
  const out: Record<string, TensorToWrite> = {};
  const layers = new Set<number>();
  const names: [RegExp, string][] = [
    [/^embeddings\.token_embedding\.weight$/, 'token_embedding.weight'],
    [/^embeddings\.position_embedding\.weight$/, 'positional_embedding'],
    [/^final_layer_norm\.(weight|bias)$/, 'ln_final.$1'],
    [/^encoder\.layers\.(\d+)\.layer_norm1\.(.+)$/, 'transformer.resblocks.$1.ln_1.$2'],
    [/^encoder\.layers\.(\d+)\.layer_norm2\.(.+)$/, 'transformer.resblocks.$1.ln_2.$2'],
    [/^encoder\.layers\.(\d+)\.mlp\.fc1\.(.+)$/, 'transformer.resblocks.$1.mlp.c_fc.$2'],
    [/^encoder\.layers\.(\d+)\.mlp\.fc2\.(.+)$/, 'transformer.resblocks.$1.mlp.c_proj.$2'],
    [/^encoder\.layers\.(\d+)\.self_attn\.out_proj\.(.+)$/, 'transformer.resblocks.$1.attn.out_proj.$2'],
  ];
  for (const k of src.keys()) {
    const layer = /^encoder\.layers\.(\d+)\./.exec(k);
    if (layer) layers.add(Number(layer[1]));
    const hit = names.find(([re]) => re.test(k));
    if (hit) out[prefix + k.replace(hit[0], hit[1])] = raw(src, k);
  }
  for (const l of layers) {
    for (const [kind, suffix] of [['weight', 'in_proj_weight'], ['bias', 'in_proj_bias']]) {
      const parts = ['q_proj', 'k_proj', 'v_proj'].map((p) => raw(src, `encoder.layers.${l}.self_attn.${p}.${kind}`));
      const shape = [parts[0].shape[0] * 3, ...parts[0].shape.slice(1)];
      out[`${prefix}transformer.resblocks.${l}.attn.${suffix}`] = { dtype: 'F32', shape, data: Buffer.concat(parts.map((p) => Buffer.from(p.data.buffer))) };
    }
  }
  if (src.has('text_projection.weight')) {
    const p = raw(src, 'text_projection.weight');
    const [rows, cols] = p.shape;
    const m = new Float32Array(p.data.buffer.slice(0));
    const t = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = m[r * cols + c];
    out[`${prefix}text_projection`] = { dtype: 'F32', shape: [cols, rows], data: t };
  }
  if (extraLayerFrom !== undefined) {
    const extra = Math.max(...layers) + 1;
    for (const [k, v] of Object.entries(out)) {
      const m = new RegExp(`^${prefix.replace(/\./g, '\\.')}transformer\\.resblocks\\.${extraLayerFrom}\\.(.+)$`).exec(k);
      if (m) out[`${prefix}transformer.resblocks.${extra}.${m[1]}`] = v;
    }
  }
  return out;
}

/** Original-layout names of a diffusers VAE, learned from the sd15 single file (same architecture). */
function originalVaeNames(): Map<string, string> {
  const file = SafetensorsFile.open(SINGLE());
  const inner = file.keys().filter((k) => k.startsWith('first_stage_model.')).map((k) => k.slice('first_stage_model.'.length));
  const levels = originalDecoderLevels(inner);
  return new Map(inner.map((k) => [vaeOriginalToDiffusers(k, levels)!, k]));
}

let sdxlFile: string | undefined;
/** An SDXL single file (SGM layout: conditioner.embedders.0 HF CLIP, .1 OpenCLIP) from sdxl-tiny. */
function sdxlSingleFile(): string {
  if (sdxlFile) return sdxlFile;
  const xl = loadPipelineSources(fixture('sdxl-tiny'));
  const tensors: Record<string, TensorToWrite> = {};
  const layout = {
    layersPerBlock: xl.unetConfig.layers_per_block as number,
    upBlockHasAttention: (xl.unetConfig.up_block_types as string[]).map((t) => t.startsWith('CrossAttn')),
  };
  for (const k of xl.unet.keys()) tensors[`model.diffusion_model.${unetDiffusersToOriginal(k, layout)}`] = raw(xl.unet, k);
  const vaeNames = originalVaeNames();
  for (const k of xl.vae.keys()) tensors[`first_stage_model.${vaeNames.get(k)}`] = raw(xl.vae, k);
  for (const k of xl.textEncoders[0].keys()) tensors[`conditioner.embedders.0.transformer.text_model.${k}`] = raw(xl.textEncoders[0], k);
  Object.assign(tensors, toOpenClip(xl.textEncoders[1], 'conditioner.embedders.1.model.'));
  // Buffers real checkpoints carry besides the weights.
  tensors['conditioner.embedders.0.transformer.text_model.embeddings.position_ids'] = { dtype: 'I64', shape: [1, 77], data: BigInt64Array.from({ length: 77 }, (_, i) => BigInt(i)) };
  tensors['conditioner.embedders.1.model.logit_scale'] = { dtype: 'F32', shape: [], data: Float32Array.of(4.6) };
  sdxlFile = join(tmp, 'sdxl-tiny.safetensors');
  writeSafetensors(sdxlFile, tensors);
  return sdxlFile;
}

/** An SD 2.x-layout single file: sd15-tiny's UNet and VAE, its CLIP as OpenCLIP with one extra final layer. */
function sd2SingleFile(name: string, extra: Record<string, TensorToWrite> = {}): string {
  const single = SafetensorsFile.open(SINGLE());
  const tensors: Record<string, TensorToWrite> = { ...extra };
  for (const k of single.keys()) if (!k.startsWith('cond_stage_model.')) tensors[k] = raw(single, k);
  Object.assign(tensors, toOpenClip(loadPipelineSources(fixture('sd15-tiny')).textEncoders[0], 'cond_stage_model.model.', 0));
  const path = join(tmp, name);
  writeSafetensors(path, tensors);
  return path;
}

// ---- detection ----

test('family detection on every fixture', { skip }, () => {
  const expected: [string, string, string][] = [
    ['sd15-tiny', 'sd1', 'diffusers'],
    ['sdxl-tiny', 'sdxl', 'diffusers'],
    ['sd15-tiny-single-file.safetensors', 'sd1', 'single-file'],
    ['dit-tiny.safetensors', 'dit', 'single-file'],
    ['dico-tiny.safetensors', 'dico', 'single-file'],
    ['sd15-tiny-linfusion', 'linfusion', 'diffusers'],
    ['sd15-tiny-linfusion/diffusion_pytorch_model.safetensors', 'linfusion', 'single-file'],
    ['sd15-tiny/vae/diffusion_pytorch_model.safetensors', 'vae', 'single-file'],
    ['sd15-tiny/vae', 'vae', 'diffusers'],
    ['sd15-tiny/unet/diffusion_pytorch_model.safetensors', 'unknown', 'single-file'],
    ['sd15-tiny-golden.safetensors', 'unknown', 'single-file'],
    ['tokenizer', 'unknown', 'diffusers'],
  ];
  for (const [path, family, layout] of expected) {
    const d = detectPath(fixture(path));
    assert.deepEqual([d.family, d.layout], [family, layout], `${path}: ${d.description}`);
  }
  assert.equal(detectPath(sdxlSingleFile()).family, 'sdxl');
  assert.equal(detectPath(sd2SingleFile('sd2-detect.safetensors')).family, 'sd2');
});

// ---- key maps ----

test('UNet key map: every sd15 single-file UNet key has a diffusers name, and the inverse gives it back', { skip }, () => {
  const single = SafetensorsFile.open(SINGLE());
  const inner = single.keys().filter((k) => k.startsWith('model.diffusion_model.')).map((k) => k.slice('model.diffusion_model.'.length));
  const diffusers = new Set(SafetensorsFile.open(fixture('sd15-tiny/unet/diffusion_pytorch_model.safetensors')).keys());
  const cfg = loadPipelineSources(fixture('sd15-tiny')).unetConfig;
  const layout = { layersPerBlock: originalLayersPerBlock(inner), upBlockHasAttention: (cfg.up_block_types as string[]).map((t) => t.startsWith('CrossAttn')) };
  assert.equal(layout.layersPerBlock, 2);
  const mapped = inner.map((k) => unetOriginalToDiffusers(k, layout.layersPerBlock));
  assert.deepEqual(mapped.filter((k) => k === undefined || !diffusers.has(k)), []);
  assert.equal(new Set(mapped).size, diffusers.size);
  inner.forEach((k, i) => assert.equal(unetDiffusersToOriginal(mapped[i]!, layout), k));
  assert.equal(unetOriginalToDiffusers('label_emb.0.0.weight', 2), 'add_embedding.linear_1.weight');
  assert.equal(unetOriginalToDiffusers('output_blocks.2.1.conv.weight', 2), 'up_blocks.0.upsamplers.0.conv.weight');
  assert.equal(unetOriginalToDiffusers('output_blocks.5.2.conv.weight', 2), 'up_blocks.1.upsamplers.0.conv.weight');
});

// ---- diffusers folder vs single file ----

test('sd15 single file: same UNet / VAE / text-encoder tensors and configs as the diffusers folder', { skip }, () => {
  const folder = loadPipelineSources(fixture('sd15-tiny'));
  const single = loadPipelineSources(SINGLE(), { configDir: fixture('sd15-tiny') });
  assert.equal(single.family, 'sd1');
  assert.equal(single.layout, 'single-file');
  assertSameTensors(folder.unet, single.unet, 'unet');
  assertSameTensors(folder.vae, single.vae, 'vae');
  assertSameTensors(folder.textEncoders[0], single.textEncoders[0], 'text encoder');
  for (const [k, v] of Object.entries(folder.unetConfig)) assert.deepEqual(single.unetConfig[k], v, `unet config ${k}`);
  assert.deepEqual(single.vaeConfig, folder.vaeConfig);
  assert.deepEqual(single.textConfigs, folder.textConfigs);
  assert.deepEqual(single.scheduler, folder.scheduler);
  assert.deepEqual(folder.tokenizerDirs, [fixture('sd15-tiny', 'tokenizer')]);
  assert.deepEqual(folder.tokenizerPads, ['eos']);
});

test('sd15 single file: text encoder and VAE give the same numbers as the diffusers folder', { skip }, async () => {
  const folder = loadPipelineSources(fixture('sd15-tiny'));
  const single = loadPipelineSources(SINGLE(), { configDir: fixture('sd15-tiny') });
  const [a, b] = [await encodeText(folder, 0), await encodeText(single, 0)];
  assert.deepEqual(b.hidden, a.hidden);
  const golden = SafetensorsFile.open(fixture('sd15-tiny-golden.safetensors'));
  assert.ok(relL2(b.hidden, golden.readFloat32('text_encoder_out')) < 1e-4);
  const latents = { data: golden.readFloat32('vae_in_latents'), dims: [1, 4, 16, 16] as const };
  const image = { data: golden.readFloat32('vae_in_image'), dims: [1, 3, 128, 128] as const };
  const [va, vb] = [new Vae(folder.vae, folder.vaeConfig), new Vae(single.vae, single.vaeConfig)];
  const [da, db] = [await va.decode(latents), await vb.decode(latents)];
  assert.deepEqual(db.data, da.data);
  assert.ok(relL2(db.data, golden.readFloat32('vae_decoded')) < 1e-4);
  const [ea, eb] = [await va.encode(image), await vb.encode(image)];
  assert.deepEqual(eb.mean.data, ea.mean.data);
  assert.ok(relL2(eb.mean.data, golden.readFloat32('vae_encoded_mean')) < 1e-4);
  await va.release();
  await vb.release();
});

test('SDXL single file (SGM layout, OpenCLIP 2nd encoder): same tensors, configs and text outputs as the folder', { skip }, async () => {
  const folder = loadPipelineSources(fixture('sdxl-tiny'));
  const single = loadPipelineSources(sdxlSingleFile(), { configDir: fixture('sdxl-tiny') });
  assert.equal(single.family, 'sdxl');
  assertSameTensors(folder.unet, single.unet, 'unet');
  assertSameTensors(folder.vae, single.vae, 'vae');
  assertSameTensors(folder.textEncoders[0], single.textEncoders[0], 'text encoder 1');
  assert.deepEqual(single.textConfigs, folder.textConfigs);
  assert.deepEqual(single.vaeConfig, folder.vaeConfig);
  assert.equal(single.unetConfig.addition_time_embed_dim, 8);
  assert.deepEqual(single.tokenizerPads, ['eos', '!']);
  const opts = { skip: 1, normalize: false, pooled: true };
  for (const i of [0, 1]) {
    const [a, b] = [await encodeText(folder, i, opts), await encodeText(single, i, opts)];
    for (const part of ['hidden', 'pooled', 'textEmbeds'] as const) {
      if (!a[part]) continue;
      const err = relL2(b[part]!, a[part]!);
      assert.ok(err < 1e-6, `encoder ${i + 1} ${part}: rel-L2 ${err}`);
    }
  }
});

/** sd15-tiny's component configs without its scheduler and tokenizer: shapes and heads only. */
function shapeConfigs(): string {
  const dir = join(tmp, 'shape-configs');
  for (const part of ['unet', 'vae', 'text_encoder']) {
    mkdirSync(join(dir, part), { recursive: true });
    copyFileSync(fixture('sd15-tiny', part, 'config.json'), join(dir, part, 'config.json'));
  }
  mkdirSync(join(dir, 'tokenizer'), { recursive: true });
  for (const f of ['vocab.json', 'merges.txt']) if (!existsSync(join(dir, 'tokenizer', f))) symlinkSync(fixture('tokenizer', f), join(dir, 'tokenizer', f));
  return dir;
}

test('SD 2.x single file: OpenCLIP encoder, penultimate layer as diffusers keeps it, prediction type detection', { skip }, async () => {
  const folder = loadPipelineSources(fixture('sd15-tiny'));
  const plain = loadPipelineSources(sd2SingleFile('sd2.safetensors'), { configDir: shapeConfigs() });
  assert.equal(plain.family, 'sd2');
  assert.equal(plain.textConfigs[0].numLayers, 3, 'the file has 4 layers; diffusers keeps 3');
  assert.deepEqual(plain.tokenizerPads, ['!']);
  const [a, b] = [await encodeText(folder, 0), await encodeText(plain, 0)];
  assert.ok(relL2(b.hidden, a.hidden) < 1e-6);
  assert.match(plain.predictionReason, /SD 2\.x weight statistic/);
  const marked = loadPipelineSources(sd2SingleFile('sd2-v.safetensors', { v_pred: { dtype: 'F32', shape: [0], data: new Float32Array(0) } }), { configDir: shapeConfigs() });
  assert.equal(marked.predictionType, 'v_prediction');
  assert.equal(marked.scheduler.config.prediction_type, 'v_prediction');
  assert.match(marked.predictionReason, /v_pred marker/);
  // A config folder with a scheduler (and a tokenizer config) is the user's word: it wins over the file.
  const configured = loadPipelineSources(sd2SingleFile('sd2-v.safetensors', { v_pred: { dtype: 'F32', shape: [0], data: new Float32Array(0) } }), { configDir: fixture('sd15-tiny') });
  assert.equal(configured.predictionType, 'epsilon');
  assert.match(configured.predictionReason, /scheduler_config\.json/);
  assert.deepEqual(configured.tokenizerPads, ['eos'], 'the config folder\'s tokenizer_config.json pads with end-of-text');
});

test('scheduler config is exposed as data, with the decided prediction type', { skip }, () => {
  const folder = loadPipelineSources(fixture('sd15-tiny'));
  assert.equal(folder.scheduler.className, 'DDIMScheduler');
  assert.equal(folder.scheduler.config.steps_offset, 1);
  assert.equal(folder.scheduler.config.timestep_spacing, 'leading');
  assert.equal(folder.predictionType, 'epsilon');
  const forced = loadPipelineSources(fixture('sd15-tiny'), { predictionType: 'v_prediction' });
  assert.equal(forced.scheduler.config.prediction_type, 'v_prediction');
  const xl = loadPipelineSources(fixture('sdxl-tiny'));
  assert.equal(xl.scheduler.className, 'EulerDiscreteScheduler');
});

test('a model name is looked up in the models dir', { skip }, () => {
  const p = loadPipelineSources('sd15-tiny', { modelsDir: fixture() });
  assert.equal(p.path, fixture('sd15-tiny'));
});

// ---- VAE override ----

test('--vae: a diffusers VAE folder, a diffusers-layout file or an original-layout file decode alike', { skip }, async () => {
  const single = SafetensorsFile.open(SINGLE());
  const original: Record<string, TensorToWrite> = {};
  for (const k of single.keys()) if (k.startsWith('first_stage_model.')) original[k.slice('first_stage_model.'.length)] = raw(single, k);
  const vaeFile = join(tmp, 'tiny.vae.safetensors');
  writeSafetensors(vaeFile, original);
  const golden = SafetensorsFile.open(fixture('sd15-tiny-golden.safetensors'));
  const latents = { data: golden.readFloat32('vae_in_latents'), dims: [1, 4, 16, 16] as const };
  const base = loadPipelineSources(fixture('sd15-tiny'));
  const reference = await new Vae(base.vae, base.vaeConfig).decode(latents);
  for (const vae of [fixture('sd15-tiny/vae'), fixture('sd15-tiny/vae/diffusion_pytorch_model.safetensors'), vaeFile]) {
    const p = loadPipelineSources(fixture('sd15-tiny'), { vae });
    assert.equal(p.vae.path, vae === vaeFile ? vaeFile : p.vae.path);
    assert.deepEqual(p.vaeConfig, base.vaeConfig, vae);
    const out = await new Vae(p.vae, p.vaeConfig).decode(latents);
    assert.deepEqual(out.data, reference.data, vae);
  }
});

test('--vae: a VAE of another latent width, or a file without a VAE, is refused with the reason', { skip }, () => {
  const zeros = (shape: number[]): TensorToWrite => ({ dtype: 'F32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
  const wide = join(tmp, 'wide.vae.safetensors');
  writeSafetensors(wide, {
    'encoder.conv_in.weight': zeros([32, 3, 3, 3]),
    'encoder.down.0.block.0.conv1.weight': zeros([32, 32, 3, 3]),
    'encoder.down.0.block.0.conv2.weight': zeros([32, 32, 3, 3]),
    'decoder.conv_in.weight': zeros([32, 16, 3, 3]),
    'decoder.up.0.block.0.conv1.weight': zeros([32, 32, 3, 3]),
    'decoder.conv_out.weight': zeros([3, 32, 3, 3]),
  });
  assert.throws(() => loadPipelineSources(fixture('sd15-tiny'), { vae: wide }), /has 16 latent channels but the model's UNet works on 4: it is a VAE for another model family/);
  assert.throws(() => loadPipelineSources(fixture('sd15-tiny'), { vae: fixture('dit-tiny.safetensors') }), /given as a VAE, but it holds no VAE decoder/);
});

// ---- bad inputs ----

test('a LoRA given as the model says what it is and what to give instead', { skip }, () => {
  const lora = join(tmp, 'style.lora.safetensors');
  const t = (shape: number[]): TensorToWrite => ({ dtype: 'F32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
  writeSafetensors(lora, {
    'lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight': t([4, 32]),
    'lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight': t([32, 4]),
    'lora_unet_down_blocks_0_attentions_0_proj_in.alpha': t([]),
    'lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight': t([4, 32]),
    'lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight': t([32, 4]),
  });
  assert.throws(
    () => loadPipelineSources(lora),
    (e: unknown) => e instanceof NotAModelError && /is a LoRA \(low-rank adapter for the UNet and text encoder, 5 tensors\)/.test(e.message) && /give a full SD 1\.x\/2\.x\/XL checkpoint/.test(e.message),
  );
});

test('a VAE-only file given as the model points to --vae', { skip }, () => {
  for (const path of [fixture('sd15-tiny/vae/diffusion_pytorch_model.safetensors'), fixture('sd15-tiny/vae')]) {
    assert.throws(() => loadPipelineSources(path), (e: unknown) => e instanceof NotAModelError && /VAE/.test(e.message) && /--vae FILE/.test(e.message));
  }
});

test('other non-models: DiT, DiCo, LinFusion, a pickle file, a missing path', { skip }, () => {
  assert.throws(() => loadPipelineSources(fixture('dit-tiny.safetensors')), /is a DiT .* DiT pipeline/);
  assert.throws(() => loadPipelineSources(fixture('dico-tiny.safetensors')), /is a DiCo .* DiCo pipeline/);
  assert.throws(() => loadPipelineSources(fixture('sd15-tiny-linfusion')), /--attention linfusion:PATH/);
  const ckpt = join(tmp, 'old.ckpt');
  writeFileSync(ckpt, 'not read');
  assert.throws(() => loadPipelineSources(ckpt), /only \.safetensors checkpoints are read .* convert it to \.safetensors first/);
  assert.throws(() => loadPipelineSources(join(tmp, 'nope')), /no such file or folder/);
});

test('an SDXL folder without tokenizer_2 names the missing files and where to put them', { skip }, () => {
  const dir = join(tmp, 'sdxl-no-tok2');
  mkdirSync(dir);
  for (const entry of ['model_index.json', 'unet', 'vae', 'text_encoder', 'text_encoder_2', 'tokenizer', 'scheduler']) symlinkSync(fixture('sdxl-tiny', entry), join(dir, entry));
  assert.throws(
    () => loadPipelineSources(dir),
    (e: unknown) =>
      e instanceof MissingTokenizerError &&
      e.message.includes(join(dir, 'tokenizer_2', 'vocab.json')) &&
      e.message.includes(join(dir, 'tokenizer_2', 'merges.txt')) &&
      e.message.includes('<models dir>/tokenizers/clip/'),
  );
  const modelsDir = modelsDirWithTokenizer();
  const p = loadPipelineSources(dir, { modelsDir });
  assert.deepEqual(p.tokenizerDirs, [join(dir, 'tokenizer'), join(modelsDir, 'tokenizers', 'clip')]);
});

test('a single file finds its tokenizer in <models dir>/tokenizers/clip/, or says to put it there', { skip }, () => {
  const configs = join(tmp, 'configs-only');
  for (const part of ['unet', 'vae', 'text_encoder', 'scheduler']) mkdirSync(join(configs, part), { recursive: true });
  copyFileSync(fixture('sd15-tiny', 'model_index.json'), join(configs, 'model_index.json'));
  for (const part of ['unet', 'vae', 'text_encoder']) copyFileSync(fixture('sd15-tiny', part, 'config.json'), join(configs, part, 'config.json'));
  copyFileSync(fixture('sd15-tiny', 'scheduler', 'scheduler_config.json'), join(configs, 'scheduler', 'scheduler_config.json'));
  assert.throws(() => loadPipelineSources(SINGLE(), { configDir: configs }), /has no tokenizer for its text encoder: missing .*vocab\.json.* Put CLIP's vocab\.json and merges\.txt in .*<models dir>\/tokenizers\/clip\//);
  const modelsDir = modelsDirWithTokenizer();
  const p = loadPipelineSources(SINGLE(), { configDir: configs, modelsDir });
  assert.deepEqual(p.tokenizerDirs, [join(modelsDir, 'tokenizers', 'clip')]);
});

test('single file without a config: head counts of odd widths cannot be guessed; a wrong config is named', { skip }, () => {
  assert.throws(() => loadPipelineSources(SINGLE(), { modelsDir: modelsDirWithTokenizer() }), /cannot tell the text encoder's head count \(width 32 is not a multiple of the usual head width 64\)/);
  assert.throws(
    () => loadPipelineSources(SINGLE(), { configDir: fixture('sdxl-tiny') }),
    /the tensors say block_out_channels = \[32,64,64,64\] but .*unet\/config\.json says \[32,64\]: the config does not belong to this checkpoint/,
  );
});
