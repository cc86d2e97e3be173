// ControlNet against diffusers on the tiny sd15-mini models (test/fixtures/controlnet, made by its
// make-goldens.py): one forward pass, whole runs with a weight, a start/end window, guess mode and two
// ControlNets at once; weight 0 is the plain model; single files in the original layout load the same.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { checkControlNetFits, loadControlNetSource } from '../pipelines/checkpoints/controlnet.ts';
import { unetDiffusersToOriginal } from '../pipelines/checkpoints/keymap-unet.ts';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../pipelines/io/safetensors.ts';
import { buildControlNet, CONTROL_IMAGE, RESIDUAL_SCALES, residualCount } from '../pipelines/models/controlnet/controlnet.ts';
import { parseUNetConfig } from '../pipelines/models/unet/config.ts';
import { downResidualName, MID_RESIDUAL } from '../pipelines/models/unet/unet.ts';
import { readImageNchw } from '../pipelines/recipes/images.ts';
import { ControlNet, controlActive, type ControlUnit } from '../pipelines/recipes/sd/controlnet.ts';
import { SdPipeline } from '../pipelines/recipes/sd/pipeline.ts';
import { Session, tensor } from '../pipelines/runtime/session.ts';
import { fixture, relL2, skipWithoutFixtures } from './fixtures.ts';
import { controlNetFromUNet } from './controlnet-from-unet.ts';
import { LORA_FIXTURES, sharedTokenizerModelsDir } from './lora-helpers.ts';
import { CONTROLNET_FIXTURES, goldens, maxPngDiff, miniPipelineDir, MINI_RUN } from './mini-sd.ts';

const skip = skipWithoutFixtures;
const CN_DIR = join(CONTROLNET_FIXTURES, 'controlnet-mini');
const unetConfig = () => parseUNetConfig(JSON.parse(readFileSync(join(CONTROLNET_FIXTURES, 'sd15-mini', 'unet', 'config.json'), 'utf8')));
const image = (name: string) => readImageNchw(join(CONTROLNET_FIXTURES, name), 128, 128);

test('ControlNet forward pass: every residual matches diffusers', { skip }, async () => {
  const source = loadControlNetSource(CN_DIR, unetConfig());
  const g = goldens();
  const count = residualCount(source.config);
  assert.equal(count, 9);
  const session = await Session.create(buildControlNet(source.weights, source.config, { batch: 2, height: 16, width: 16 }));
  const ehs = await textEmbeds();
  const edges = await image('control-edges.png');
  const out = await session.run({
    sample: tensor(g.readFloat32('forward_sample'), [2, 4, 16, 16]),
    timestep: tensor(new Float32Array([500, 500]), [2]),
    encoder_hidden_states: tensor(ehs, [2, 77, 32]),
    [CONTROL_IMAGE]: tensor(Float32Array.from([...edges, ...edges]), [2, 3, 128, 128]),
    [RESIDUAL_SCALES]: tensor(new Float32Array(2 * count).fill(1), [2, count]),
  });
  for (let i = 0; i < count - 1; i++) {
    const e = relL2(out[downResidualName(i)].data as Float32Array, g.readFloat32(`forward_down_${i}`));
    assert.ok(e < 1e-4, `down residual ${i}: rel-L2 ${e}`);
  }
  const e = relL2(out[MID_RESIDUAL].data as Float32Array, g.readFloat32('forward_mid'));
  assert.ok(e < 1e-4, `mid residual: rel-L2 ${e}`);
  await session.release();
});

/** [negative, prompt] text states of the sd15-tiny encoder, as the goldens were given them. */
async function textEmbeds(): Promise<Float32Array> {
  const pipe = SdPipeline.load(miniPipelineDir());
  const stages = await pipe.textStages(1);
  const { encodePrompts } = await import('../pipelines/recipes/sd/conditioning.ts');
  const c = await encodePrompts(stages, [MINI_RUN.negative!, MINI_RUN.prompt], new Set());
  await pipe.release();
  return c.hidden;
}

test('ControlNet runs match diffusers: weight, start/end window, guess mode, two at once', { skip }, async (t) => {
  const pipe = SdPipeline.load(miniPipelineDir());
  const net = new ControlNet(loadControlNetSource(CN_DIR, pipe.unetConfig));
  const edges = await image('control-edges.png');
  const triangle = await image('control-triangle.png');
  const unit = (o: Partial<ControlUnit>): ControlUnit => ({ net, image: edges, weight: 1, start: 0, end: 1, guessMode: false, ...o });
  const runs: Record<string, ControlUnit[]> = {
    cn_w08: [unit({ weight: 0.8 })],
    cn_window: [unit({ start: 0.2, end: 0.6 })],
    cn_guess: [unit({ guessMode: true })],
    cn_multi: [unit({ weight: 0.5 }), unit({ image: triangle, weight: 0.9, start: 0.4, end: 0.8 })],
  };
  const g = goldens();
  for (const [name, controlNets] of Object.entries(runs)) {
    await t.test(name, async () => {
      const r = await pipe.generate({ ...MINI_RUN, controlNets });
      const e = relL2(r.latentsPerStep.at(-1)!, g.readFloat32(`${name}_final_latents`));
      assert.ok(e < 1e-3, `${name} final latents: rel-L2 ${e}`);
      const png = await maxPngDiff(r.images, join(CONTROLNET_FIXTURES, `${name}.png`));
      assert.ok(png <= 1, `${name}: PNG differs by ${png}/255`);
    });
  }
  await t.test('weight 0 draws what the model draws without a ControlNet', async () => {
    const plain = await pipe.generate(MINI_RUN);
    const zero = await pipe.generate({ ...MINI_RUN, controlNets: [unit({ weight: 0 })] });
    assert.deepEqual(zero.latentsPerStep.at(-1), plain.latentsPerStep.at(-1));
    const e = relL2(plain.latentsPerStep.at(-1)!, g.readFloat32('txt2img_final_latents'));
    assert.ok(e < 1e-3, `txt2img: rel-L2 ${e}`);
    const full = await pipe.generate({ ...MINI_RUN, controlNets: [unit({})] });
    assert.ok(relL2(full.latentsPerStep.at(-1)!, plain.latentsPerStep.at(-1)!) > 1e-2, 'the ControlNet changes the image at weight 1');
  });
  await t.test('outside its start/end window a ControlNet changes nothing', async () => {
    // Active from step 3 of 0–4 (3/5 ≥ 0.6): the first three steps are the plain model's.
    const plain = await pipe.generate(MINI_RUN);
    const late = await pipe.generate({ ...MINI_RUN, controlNets: [unit({ start: 0.6, end: 1 })] });
    for (let i = 0; i < 3; i++) assert.deepEqual(late.latentsPerStep[i], plain.latentsPerStep[i], `step ${i}`);
    const e = relL2(late.latentsPerStep[3], plain.latentsPerStep[3]);
    assert.ok(e > 1e-3, `step 3 is steered (rel-L2 ${e} from the plain model)`);
  });
  await net.release();
  await pipe.release();
});

test('controlActive is diffusers\' controlnet_keep', () => {
  const active = (start: number, end: number) => [0, 1, 2, 3, 4].filter((i) => controlActive({ start, end }, i, 5));
  assert.deepEqual(active(0, 1), [0, 1, 2, 3, 4]);
  assert.deepEqual(active(0.2, 0.6), [1, 2]);
  assert.deepEqual(active(0.4, 0.8), [2, 3]);
  assert.deepEqual(active(0.5, 0.5), []);
});

/** The fixture ControlNet rewritten in the original (lllyasviel) layout, under `control_model.` when `prefixed`. */
function writeOriginalLayout(path: string, prefixed: boolean): void {
  const src = SafetensorsFile.open(join(CN_DIR, 'diffusion_pytorch_model.safetensors'));
  const hint = (n: string) => ({ conv_in: 0, conv_out: 14 } as Record<string, number>)[n] ?? 2 * (Number(/blocks\.(\d+)/.exec(n)![1]) + 1);
  const rename = (k: string): string => {
    let m = /^controlnet_cond_embedding\.(conv_in|conv_out|blocks\.\d+)\.(.+)$/.exec(k);
    if (m) return `input_hint_block.${hint(m[1])}.${m[2]}`;
    m = /^controlnet_down_blocks\.(\d+)\.(.+)$/.exec(k);
    if (m) return `zero_convs.${m[1]}.0.${m[2]}`;
    if (k.startsWith('controlnet_mid_block.')) return `middle_block_out.0.${k.slice('controlnet_mid_block.'.length)}`;
    const original = unetDiffusersToOriginal(k, { layersPerBlock: 1, upBlockHasAttention: [] });
    if (!original) throw new Error(`no original name for ${k}`);
    return original;
  };
  const tensors: Record<string, TensorToWrite> = {};
  for (const k of src.keys()) {
    const info = src.info(k);
    tensors[(prefixed ? 'control_model.' : '') + rename(k)] = { dtype: info.dtype, shape: info.shape, data: src.readBytes(k) };
  }
  writeSafetensors(path, tensors);
}

test('single-file ControlNets (original layout with and without control_model., diffusers names without a config) load as the diffusers folder does', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'controlnet-'));
  const pipe = SdPipeline.load(miniPipelineDir());
  const edges = await image('control-edges.png');
  const folder = new ControlNet(loadControlNetSource(CN_DIR, pipe.unetConfig));
  const expected = await pipe.generate({ ...MINI_RUN, steps: 2, controlNets: [{ net: folder, image: edges, weight: 1, start: 0, end: 1, guessMode: false }] });
  // A lone diffusers-named file (no config.json beside it) takes the model's UNet config.
  const lone = join(dir, 'diffusers_mini.safetensors');
  copyFileSync(join(CN_DIR, 'diffusion_pytorch_model.safetensors'), lone);
  for (const prefixed of [false, true, undefined]) {
    const file = prefixed === undefined ? lone : join(dir, `control_mini${prefixed ? '_prefixed' : ''}.safetensors`);
    if (prefixed !== undefined) writeOriginalLayout(file, prefixed);
    const source = loadControlNetSource(file, pipe.unetConfig);
    assert.deepEqual(source.config.embeddingChannels, [8, 8, 16, 16]);
    const net = new ControlNet(source);
    const r = await pipe.generate({ ...MINI_RUN, steps: 2, controlNets: [{ net, image: edges, weight: 1, start: 0, end: 1, guessMode: false }] });
    assert.deepEqual(r.latentsPerStep.at(-1), expected.latentsPerStep.at(-1));
    await net.release();
  }
  await folder.release();
  await pipe.release();
});

test('a ControlNet of another family is refused naming both; a file that is no ControlNet is refused', { skip }, () => {
  const sdxl = SdPipeline.load(fixture('sdxl-tiny'));
  const cn = loadControlNetSource(CN_DIR, sdxl.unetConfig);
  assert.throws(() => checkControlNetFits(cn, sdxl.unetConfig, 'sdxl-tiny'), (e: Error) =>
    /controlnet-mini: this ControlNet is for a UNet with 32-wide text, but the model sdxl-tiny is Stable Diffusion XL: use a ControlNet made for Stable Diffusion XL/.test(e.message));
  const sd15 = SdPipeline.load(miniPipelineDir());
  assert.doesNotThrow(() => checkControlNetFits(loadControlNetSource(CN_DIR, sd15.unetConfig), sd15.unetConfig, 'sd15-mini'));
  const notControlNet = join(CONTROLNET_FIXTURES, 'sd15-mini', 'vae', 'diffusion_pytorch_model.safetensors');
  assert.throws(() => loadControlNetSource(notControlNet, sd15.unetConfig), /this is not a ControlNet \(no input_hint_block\.\* or controlnet_cond_embedding\.\* tensors\)/);
  assert.throws(() => loadControlNetSource('/nonexistent/cn.safetensors', sd15.unetConfig), /--controlnet \/nonexistent\/cn.safetensors: no such file or folder/);
});

for (const [family, load, run] of [
  ['SDXL (text_time conditioning)', () => SdPipeline.load(fixture('sdxl-tiny')), { cfg: 5, sampler: 'euler', width: 64, height: 64 }],
  ['SD 2.x single file (linear projections, v-prediction)', () => SdPipeline.load(join(LORA_FIXTURES, 'sd2-tiny-v.safetensors'), { modelsDir: sharedTokenizerModelsDir() }), { cfg: 5, sampler: 'euler', width: 64, height: 64 }],
] as const) {
  test(`${family}: a ControlNet made from its UNet steers it, in guess mode too; weight 0 is the plain model`, { skip }, async () => {
    const pipe = load();
    const dir = controlNetFromUNet(pipe.sources.unetConfig as Record<string, unknown>, pipe.sources.unet, join(mkdtempSync(join(tmpdir(), 'cn-family-')), 'controlnet'));
    const net = pipe.controlNet(dir, family);
    const plainRun = { prompt: 'a red apple', negative: '', steps: 2, seed: 3, ...run };
    const control = await readImageNchw(join(CONTROLNET_FIXTURES, 'control-edges.png'), 64, 64);
    const unit = (o: Partial<ControlUnit>): ControlUnit => ({ net, image: control, weight: 1, start: 0, end: 1, guessMode: false, ...o });
    const plain = await pipe.generate(plainRun);
    const zero = await pipe.generate({ ...plainRun, controlNets: [unit({ weight: 0 })] });
    assert.deepEqual(zero.latentsPerStep.at(-1), plain.latentsPerStep.at(-1));
    for (const guessMode of [false, true]) {
      const steered = await pipe.generate({ ...plainRun, controlNets: [unit({ guessMode })] });
      const e = relL2(steered.latentsPerStep.at(-1)!, plain.latentsPerStep.at(-1)!);
      assert.ok(e > 1e-3 && Number.isFinite(e), `guess mode ${guessMode}: rel-L2 ${e} from the plain model`);
    }
    await pipe.release();
  });
}
