// The FLUX.1 transformer (tiny, test/fixtures/flux-tiny) against diffusers' FluxTransformer2DModel: dev
// (guidance embedding) at three timesteps, schnell (no guidance embedding) from Black Forest Labs' single-file
// layout, and SoftPAG heads against a float64 implementation of the paper's equations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../pipelines/io/safetensors.ts';
import { readJsonObject } from '../pipelines/checkpoints/json-fields.ts';
import { fluxConfigFromDiffusers, fluxConfigFromTensors, type FluxConfig } from '../pipelines/models/flux/config.ts';
import { fluxPrefix, fluxSingleFileTransformer } from '../pipelines/recipes/flux/keymap.ts';
import { buildFluxGraph, fluxAttentionLayers, FLUX_OUTPUT } from '../pipelines/models/flux/model.ts';
import { HEAD_WEIGHTS_INPUT } from '../pipelines/attention/head-perturbation.ts';
import type { TensorSource } from '../pipelines/onnx/weights.ts';
import { Session, tensor } from '../pipelines/runtime/session.ts';
import { relL2 } from './fixtures.ts';

const own = (...p: string[]) => resolve(import.meta.dirname, 'fixtures', ...p);
const folder = own('flux-tiny', 'transformer');
const cfg = fluxConfigFromDiffusers(readJsonObject(join(folder, 'config.json')), folder);
const weights = SafetensorsFile.open(join(folder, 'diffusion_pytorch_model.safetensors'));
const golden = SafetensorsFile.open(own('flux-tiny-transformer-golden.safetensors'));
const [ROWS, COLS, TEXT, BATCH] = [4, 6, 16, 2];

/** Packed tokens [B, rows·cols, C·4] ↔ latents [B, C, 2·rows, 2·cols] (FluxPipeline's _pack_latents). */
function packIndex(b: number, c: number, y: number, x: number, channels: number): number {
  const token = Math.floor(y / 2) * COLS + Math.floor(x / 2);
  return (b * ROWS * COLS + token) * channels * 4 + c * 4 + (y % 2) * 2 + (x % 2);
}
function unpacked(packed: Float32Array, channels: number): Float32Array {
  const out = new Float32Array(packed.length);
  let i = 0;
  for (let b = 0; b < BATCH; b++) for (let c = 0; c < channels; c++) for (let y = 0; y < 2 * ROWS; y++) for (let x = 0; x < 2 * COLS; x++) out[i++] = packed[packIndex(b, c, y, x, channels)];
  return out;
}

async function runFlux(source: TensorSource, config: FluxConfig, t: number, extra: Record<string, ReturnType<typeof tensor>> = {}, perturbedRows = 0, dtype: 'float32' | 'float16' = 'float32'): Promise<Float32Array> {
  const session = await Session.create(buildFluxGraph(source, config, { batch: BATCH, height: 2 * ROWS, width: 2 * COLS, textLength: TEXT, perturbedRows, dtype }));
  const channels = config.inChannels / 4;
  const out = await session.run({
    hidden_states: tensor(unpacked(golden.readFloat32('x'), channels), [BATCH, channels, 2 * ROWS, 2 * COLS]),
    encoder_hidden_states: tensor(golden.readFloat32('context'), [BATCH, TEXT, config.jointAttentionDim]),
    pooled_projections: tensor(golden.readFloat32('pooled'), [BATCH, config.pooledProjectionDim]),
    timestep: tensor(new Float32Array(BATCH).fill(t), [BATCH]),
    ...(config.guidanceEmbeds ? { guidance: tensor(golden.readFloat32('guidance'), [BATCH]) } : {}),
    ...extra,
  });
  await session.release();
  return out[FLUX_OUTPUT].data as Float32Array;
}

const goldenLatents = (name: string, file = golden): Float32Array => unpacked(file.readFloat32(name), cfg.inChannels / 4);

test('FLUX config: the dev layout read from the diffusers config', () => {
  assert.deepEqual([cfg.numLayers, cfg.numSingleLayers, cfg.heads, cfg.headDim, cfg.guidanceEmbeds, [...cfg.axesDimsRope]], [2, 2, 2, 16, true, [4, 6, 6]]);
  assert.deepEqual(fluxAttentionLayers(cfg).map((l) => l.name), ['transformer_blocks.0.attn', 'transformer_blocks.1.attn', 'single_transformer_blocks.0.attn', 'single_transformer_blocks.1.attn']);
});

for (const t of [1000, 500, 20]) {
  test(`FLUX.1-dev transformer at t = ${t} matches diffusers (bf16 weights converted on load, guidance 3.5 and 5)`, async (tt) => {
    const out = await runFlux(weights, cfg, t / 1000);
    const err = relL2(out, goldenLatents(`dev_out_t${t}`));
    tt.diagnostic(`rel-L2 ${err.toExponential(2)}`);
    assert.ok(err < 1e-4, `rel-L2 ${err}`);
  });
}

test('FLUX SoftPAG: perturbed heads over the joint sequence match the paper equations (float64 reference); the unperturbed row is the plain model', async (tt) => {
  const sp = SafetensorsFile.open(own('flux-tiny-softpag-golden.safetensors'));
  const hw = sp.readFloat32('head_weights');
  const out = await runFlux(weights, cfg, 0.5, { [HEAD_WEIGHTS_INPUT]: tensor(hw, [fluxAttentionLayers(cfg).length, cfg.heads]) }, 1);
  const ref = goldenLatents('out_t500', sp);
  const half = out.length / 2;
  const plain = relL2(out.subarray(0, half), ref.subarray(0, half));
  const perturbed = relL2(out.subarray(half), ref.subarray(half));
  tt.diagnostic(`unperturbed row ${plain.toExponential(2)}, perturbed row ${perturbed.toExponential(2)}`);
  assert.ok(plain < 1e-4 && perturbed < 1e-4, `rel-L2 ${plain} / ${perturbed}`);
});

test('FLUX transformer in fp16 (RoPE in fp32, residuals clipped as diffusers does): close to diffusers\' fp32 output', async (tt) => {
  const out = await runFlux(weights, cfg, 0.5, {}, 0, 'float16');
  const err = relL2(out, goldenLatents('dev_out_t500'));
  tt.diagnostic(`rel-L2 ${err.toExponential(2)}`);
  assert.ok(out.every(Number.isFinite) && err < 1e-2, `rel-L2 ${err}`);
});

test('FLUX.1-schnell transformer from Black Forest Labs\' single file (and ComfyUI\'s prefixed copy): config from its tensors, output matches diffusers', async (tt) => {
  const bfl = SafetensorsFile.open(own('flux-schnell-tiny.safetensors'));
  const comfy = join(mkdtempSync(join(tmpdir(), 'flux-comfy-')), 'flux1-schnell-comfy.safetensors');
  const tensors: Record<string, TensorToWrite> = {};
  for (const k of bfl.keys()) tensors[`model.diffusion_model.${k}`] = { dtype: bfl.info(k).dtype, shape: [...bfl.info(k).shape], data: bfl.readBytes(k) };
  writeSafetensors(comfy, tensors);
  const outs: Float32Array[] = [];
  for (const file of [bfl, SafetensorsFile.open(comfy)]) {
    const source = fluxSingleFileTransformer(file, fluxPrefix(file.keys())!);
    const config = fluxConfigFromTensors(source, file.path, cfg.axesDimsRope);
    assert.deepEqual({ ...config, guidanceEmbeds: true }, cfg, 'the same shapes as the diffusers config, without guidance');
    assert.equal(config.guidanceEmbeds, false);
    outs.push(await runFlux(source, config, 0.75));
  }
  const err = relL2(outs[0], goldenLatents('schnell_out_t750'));
  tt.diagnostic(`rel-L2 ${err.toExponential(2)}`);
  assert.ok(err < 1e-4, `rel-L2 ${err}`);
  assert.deepEqual(outs[1], outs[0]);
});
