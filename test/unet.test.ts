import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import { HEAD_WEIGHTS_INPUT, headWeightsData, wholeLayerPicks } from '../pipelines/attention/head-perturbation.ts';
import { identityOn } from '../pipelines/attention/identity.ts';
import { LinFusionModules, linfusionAttention } from '../pipelines/attention/linfusion.ts';
import { softmaxAttention } from '../pipelines/attention/softmax.ts';
import { parseUNetConfig, type UNetConfig } from '../pipelines/models/unet/config.ts';
import { matchPagLayers, selfAttentionLayers } from '../pipelines/models/unet/layers.ts';
import { buildUNet, UNET_OUTPUT, type UNetBuildOptions } from '../pipelines/models/unet/unet.ts';
import { Session, tensor, type ort } from '../pipelines/runtime/session.ts';
import { fixture, relL2, skipWithoutFixtures } from './fixtures.ts';

const skip = skipWithoutFixtures;
const config = (family: string): UNetConfig => parseUNetConfig(JSON.parse(readFileSync(fixture(family, 'unet', 'config.json'), 'utf8')));
const weights = (family: string) => SafetensorsFile.open(fixture(family, 'unet', 'diffusion_pytorch_model.safetensors'));
const golden = () => SafetensorsFile.open(fixture('sd15-tiny-golden.safetensors'));

async function runSd15(o: Partial<UNetBuildOptions>, t: number, extra: Record<string, ort.Tensor> = {}): Promise<Float32Array> {
  const gold = golden();
  const { graph } = buildUNet(weights('sd15-tiny'), config('sd15-tiny'), { batch: 2, height: 16, width: 16, ...o });
  const session = await Session.create(graph);
  try {
    const out = await session.run({
      sample: tensor(gold.readFloat32('unet_in_sample'), [2, 4, 16, 16]),
      timestep: tensor(Float32Array.of(t, t), [2]),
      encoder_hidden_states: tensor(gold.readFloat32('unet_in_ehs'), [2, 77, 32]),
      ...extra,
    });
    return out[UNET_OUTPUT].data as Float32Array;
  } finally {
    await session.release();
  }
}

const half = (x: Float32Array, row: 0 | 1) => x.subarray(row * (x.length / 2), (row + 1) * (x.length / 2));
const headWeights = (data: Float32Array, layers: number) => tensor(data, [layers, data.length / layers]);

test('SD 1.x UNet matches diffusers at t = 1, 500, 999 (rel-L2 < 1e-4)', { skip }, async (t) => {
  const gold = golden();
  for (const step of [1, 500, 999]) {
    const err = relL2(await runSd15({}, step), gold.readFloat32(`unet_out_t${step}`));
    t.diagnostic(`t=${step}: rel-L2 ${err.toExponential(2)}`);
    assert.ok(err < 1e-4, `t=${step}: rel-L2 ${err}`);
  }
});

test('LinFusion UNet matches the LinFusion reference at t = 500 (rel-L2 < 1e-4)', { skip }, async (t) => {
  const mods = LinFusionModules.load(fixture('sd15-tiny-linfusion'));
  const err = relL2(await runSd15({ selfAttention: linfusionAttention(mods) }, 500), golden().readFloat32('linfusion_unet_out_t500'));
  t.diagnostic(`rel-L2 ${err.toExponential(2)}`);
  assert.ok(err < 1e-4, `rel-L2 ${err}`);
});

test('a LinFusion file made for another UNet is refused with the module it cannot place', { skip }, () => {
  const mods = LinFusionModules.load(fixture('sd15-tiny-linfusion'));
  assert.throws(
    () => buildUNet(weights('sdxl-tiny'), config('sdxl-tiny'), { batch: 1, height: 16, width: 16, selfAttention: linfusionAttention(mods) }),
    /sd15-tiny-linfusion.*config\.json: module "down_blocks\.0\.attentions\.0\.transformer_blocks\.0\.attn1" has no matching self-attention layer.*another model/,
  );
});

test('self-attention layers are listed in execution order with the names diffusers (and LinFusion) use', { skip }, () => {
  const layers = selfAttentionLayers(config('sd15-tiny'));
  assert.equal(layers.length, 16);
  const linfusionNames = (JSON.parse(readFileSync(fixture('sd15-tiny-linfusion', 'config.json'), 'utf8')) as { modules_list: { module_name: string }[] }).modules_list.map((m) => m.module_name);
  assert.deepEqual([...layers.map((l) => l.name)].sort(), [...linfusionNames].sort());
  assert.deepEqual(layers.map((l) => l.index), [...layers.keys()]);
  assert.equal(layers[6].name, 'mid_block.attentions.0.transformer_blocks.0.attn1');
  assert.deepEqual(layers.map((l) => l.heads), Array(16).fill(8));

  const xl = selfAttentionLayers(config('sdxl-tiny'));
  assert.deepEqual(xl.map((l) => l.name.replace(/\.transformer_blocks\.(\d)\.attn1$/, '/$1')), [
    'down_blocks.1.attentions.0/0', 'down_blocks.1.attentions.0/1', 'down_blocks.1.attentions.1/0', 'down_blocks.1.attentions.1/1',
    'mid_block.attentions.0/0', 'mid_block.attentions.0/1',
    'up_blocks.0.attentions.0/0', 'up_blocks.0.attentions.0/1', 'up_blocks.0.attentions.1/0', 'up_blocks.0.attentions.1/1',
    'up_blocks.0.attentions.2/0', 'up_blocks.0.attentions.2/1',
  ]);
  assert.deepEqual([...new Set(xl.map((l) => `${l.channels}/${l.heads}/${l.downsample}`))], ['64/4/2']);
});

test('diffusers PAG layer names map onto the layer list', { skip }, () => {
  const layers = selfAttentionLayers(config('sd15-tiny'));
  assert.deepEqual(matchPagLayers(layers, ['mid']), [6]);
  assert.deepEqual(matchPagLayers(layers, ['down_blocks.1']), [2, 3]);
  assert.deepEqual(matchPagLayers(layers, ['up_blocks.1.attentions.1', 'mid']), [6, 8]);
  assert.throws(() => matchPagLayers(layers, ['up_blocks.0.attentions.1']), /matches no self-attention layer.*mid_block\.attentions\.0/);
  assert.deepEqual(matchPagLayers(selfAttentionLayers(config('sdxl-tiny')), ['mid']), [4, 5]);
});

test('head_weights all 0 gives exactly the unperturbed UNet', { skip }, async () => {
  const layers = selfAttentionLayers(config('sd15-tiny'));
  const plain = await runSd15({}, 500);
  const perturbed = await runSd15({ perturbedRows: 1 }, 500, { [HEAD_WEIGHTS_INPUT]: headWeights(headWeightsData(layers, []), layers.length) });
  assert.equal(perturbed.length, plain.length);
  const differing = plain.reduce((n, v, i) => n + (v === perturbed[i] ? 0 : 1), 0);
  assert.equal(differing, 0, `${differing} values differ`);
});

test('head weights = 1 on a layer equal PAG identity attention on that layer, for the perturbed rows only', { skip }, async (t) => {
  const layers = selfAttentionLayers(config('sd15-tiny'));
  const [mid] = matchPagLayers(layers, ['mid']);
  const weights = headWeightsData(layers, wholeLayerPicks(layers, [mid]));
  assert.equal(weights.reduce((a, b) => a + b, 0), 8);
  const perturbed = await runSd15({ perturbedRows: 1 }, 500, { [HEAD_WEIGHTS_INPUT]: headWeights(weights, layers.length) });
  const plain = await runSd15({}, 500);
  const identity = await runSd15({ selfAttention: identityOn(softmaxAttention(), [mid]) }, 500);
  const errPerturbed = relL2(half(perturbed, 1), half(identity, 1));
  const errPlain = relL2(half(perturbed, 0), half(plain, 0));
  const effect = relL2(half(identity, 1), half(plain, 1));
  t.diagnostic(`perturbed row vs identity graph ${errPerturbed.toExponential(2)}, other row vs plain ${errPlain.toExponential(2)}, PAG effect ${effect.toExponential(2)}`);
  assert.ok(errPerturbed < 1e-6 && errPlain < 1e-6);
  assert.ok(effect > 1e-3, 'the identity layer must change the output, or the comparison proves nothing');
});

test('head selections out of range or with u outside [0, 1] are refused by name', { skip }, () => {
  const layers = selfAttentionLayers(config('sd15-tiny'));
  assert.throws(() => headWeightsData(layers, [{ layer: 16, head: 0, u: 1 }]), /L16H0: layer 16 does not exist \(this model has self-attention layers 0–15\)/);
  assert.throws(() => headWeightsData(layers, [{ layer: 3, head: 8, u: 1 }]), /L3H8: layer 3 \(down_blocks\.1\.attentions\.1\.transformer_blocks\.0\.attn1\) has heads 0–7/);
  assert.throws(() => headWeightsData(layers, [{ layer: 3, head: 1, u: 1.5 }]), /L3H1: strength u = 1\.5 must lie in \[0, 1\]/);
  assert.equal(headWeightsData(layers, [{ layer: 3, head: 1, u: 0.25 }])[3 * 8 + 1], 0.25);
});

test('SDXL UNet (text_time embedding, 2-deep transformers, linear projection) builds and runs', { skip }, async () => {
  const { graph, inputNames } = buildUNet(weights('sdxl-tiny'), config('sdxl-tiny'), { batch: 1, height: 16, width: 16 });
  assert.deepEqual(inputNames, ['sample', 'timestep', 'encoder_hidden_states', 'text_embeds', 'time_ids']);
  const session = await Session.create(graph);
  const noise = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 0.8);
  const out = await session.run({
    sample: tensor(noise(1024), [1, 4, 16, 16]),
    timestep: tensor(Float32Array.of(700), [1]),
    encoder_hidden_states: tensor(noise(77 * 64), [1, 77, 64]),
    text_embeds: tensor(noise(32), [1, 32]),
    time_ids: tensor(Float32Array.of(128, 128, 0, 0, 128, 128), [1, 6]),
  });
  await session.release();
  const y = out[UNET_OUTPUT];
  assert.deepEqual(y.dims, [1, 4, 16, 16]);
  assert.ok((y.data as Float32Array).every(Number.isFinite));
});

test('an fp16 build stays close to the fp32 reference', { skip }, async (t) => {
  const err = relL2(await runSd15({ dtype: 'float16' }, 500), golden().readFloat32('unet_out_t500'));
  t.diagnostic(`fp16 rel-L2 ${err.toExponential(2)}`);
  assert.ok(err < 1e-2, `rel-L2 ${err}`);
});

test('configs the builder cannot honour are refused by name', () => {
  const base = { block_out_channels: [32, 64], down_block_types: ['CrossAttnDownBlock2D', 'DownBlock2D'], up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D'] };
  assert.throws(() => parseUNetConfig({ ...base, class_embed_type: 'timestep' }, 'x/config.json'), /x\/config\.json: "class_embed_type" = "timestep" is not supported/);
  assert.throws(() => parseUNetConfig({ ...base, down_block_types: ['SimpleCrossAttnDownBlock2D', 'DownBlock2D'] }), /down block type "SimpleCrossAttnDownBlock2D"/);
  assert.throws(() => parseUNetConfig({ ...base, attention_head_dim: 5 }), /block 0 has 32 channels, not divisible by 5 attention heads/);
  assert.equal(parseUNetConfig({ ...base, attention_head_dim: [1, 2] }).heads[1], 2);
});
