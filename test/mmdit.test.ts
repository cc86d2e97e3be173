// SD3.5-layout MMDiT (qk RMSNorm, dual attention) against diffusers' SD3Transformer2DModel at
// t = 1/500/999 and on a non-square latent, and SoftPAG against the paper's equations written out
// (test/fixtures, made by bench/goldens/make_sd3_pixart.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import { readJsonObject } from '../pipelines/checkpoints/json-fields.ts';
import { mmditConfigFromDiffusers, mmditTensorShapes } from '../pipelines/models/mmdit/config.ts';
import { buildMmditGraph, mmditAttentionLayers, MMDIT_OUTPUT, type MmditGraphOptions } from '../pipelines/models/mmdit/model.ts';
import { HEAD_WEIGHTS_INPUT } from '../pipelines/attention/head-perturbation.ts';
import { Session, tensor } from '../pipelines/runtime/session.ts';
import { relL2 } from './fixtures.ts';

const own = (...p: string[]) => resolve(import.meta.dirname, 'fixtures', ...p);
const folder = own('sd3-tiny', 'transformer');
const cfg = mmditConfigFromDiffusers(readJsonObject(join(folder, 'config.json')), folder);
const weights = SafetensorsFile.open(join(folder, 'diffusion_pytorch_model.safetensors'));
const golden = SafetensorsFile.open(own('sd35-tiny-transformer-golden.safetensors'));

async function run(o: Omit<MmditGraphOptions, 'textLength'>, x: Float32Array, t: number, extra: Record<string, ReturnType<typeof tensor>> = {}, rowsOf = o.batch) {
  const context = golden.readFloat32('context').subarray(0, rowsOf * 109 * 80);
  const pooled = golden.readFloat32('pooled').subarray(0, rowsOf * 64);
  const session = await Session.create(buildMmditGraph(weights, cfg, { ...o, textLength: 109 }));
  const out = await session.run({
    hidden_states: tensor(x, [o.batch, 16, o.height, o.width]),
    encoder_hidden_states: tensor(context, [o.batch, 109, 80]),
    pooled_projections: tensor(pooled, [o.batch, 64]),
    timestep: tensor(new Float32Array(o.batch).fill(t), [o.batch]),
    ...extra,
  });
  await session.release();
  return out[MMDIT_OUTPUT].data as Float32Array;
}

test('MMDiT config: SD3.5-medium layout read from the diffusers config', () => {
  assert.deepEqual([cfg.numLayers, cfg.heads, cfg.headDim, cfg.qkNorm, [...cfg.dualAttentionLayers]], [3, 4, 8, true, [0, 1]]);
  assert.deepEqual(mmditAttentionLayers(cfg).map((l) => l.name), JSON.parse(readFileSync(own('sd35-tiny-softpag-layers.json'), 'utf8')));
});

for (const t of [1, 500, 999]) {
  test(`MMDiT: output at t = ${t} matches diffusers (bf16 weights converted on load)`, async (tt) => {
    const out = await run({ batch: 2, height: 16, width: 16 }, golden.readFloat32('x'), t);
    const err = relL2(out, golden.readFloat32(`out_t${t}`));
    tt.diagnostic(`rel-L2 ${err.toExponential(2)}`);
    assert.ok(err < 1e-4, `rel-L2 ${err}`);
  });
}

test('MMDiT: a non-square latent crops the position grid off-centre as diffusers does', async (tt) => {
  const out = await run({ batch: 1, height: 12, width: 20 }, golden.readFloat32('x_wide'), 500, {}, 1);
  const err = relL2(out, golden.readFloat32('out_wide_t500'));
  tt.diagnostic(`rel-L2 ${err.toExponential(2)}`);
  assert.ok(err < 1e-4, `rel-L2 ${err}`);
});

test('MMDiT SoftPAG: per-head (1−u)·A + u·I over the joint sequence matches the plain reference; unperturbed row is the plain model', async (tt) => {
  const soft = SafetensorsFile.open(own('sd35-tiny-softpag-golden.safetensors'));
  const hw = soft.readFloat32('head_weights');
  const layers = mmditAttentionLayers(cfg);
  assert.equal(hw.length, layers.length * 4);
  const out = await run({ batch: 2, height: 16, width: 16, perturbedRows: 1 }, golden.readFloat32('x'), 500, { [HEAD_WEIGHTS_INPUT]: tensor(hw, [layers.length, 4]) });
  const ref = soft.readFloat32('out_t500');
  const half = out.length / 2;
  const errPlain = relL2(out.subarray(0, half), golden.readFloat32('out_t500').subarray(0, half));
  const errSoft = relL2(out.subarray(half), ref.subarray(half));
  const moved = relL2(ref.subarray(half), golden.readFloat32('out_t500').subarray(half));
  tt.diagnostic(`unperturbed row ${errPlain.toExponential(2)}, perturbed row ${errSoft.toExponential(2)} (perturbation moves it by ${moved.toExponential(2)})`);
  assert.ok(errPlain < 1e-4 && errSoft < 1e-4, `rel-L2 ${errPlain} / ${errSoft}`);
  assert.ok(moved > 1e-2, 'the perturbation changes the output');
});

test('MMDiT tensor list: exactly the tensors of the diffusers checkpoint, with their shapes', () => {
  const expected = mmditTensorShapes(cfg);
  assert.deepEqual(Object.keys(expected).sort(), weights.keys().sort());
  for (const [k, shape] of Object.entries(expected)) assert.deepEqual(weights.info(k).shape, shape, k);
});
