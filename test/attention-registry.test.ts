// The attention variants as plug-ins: the request schema and command-line form built from the variant
// list, AgentSD's step schedule, where each variant applies, and FLOPs counted on real UNet graphs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fixture, skipWithoutFixtures } from './fixtures.ts';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import { parseUNetConfig } from '../pipelines/models/unet/config.ts';
import { buildUNet } from '../pipelines/models/unet/unet.ts';
import { AGENT_SD_EARLY, AGENT_SD_LATE, AgentAttention } from '../pipelines/attention/agent.ts';
import { ATTENTION_KINDS, ATTENTION_VARIANTS, AttentionSchema, attentionCliForms, parseAttentionArg } from '../pipelines/attention/options.ts';
import { ATTENTION_PLUGINS, attentionFlops, attentionSchedule, runsOn, variantsFor } from '../pipelines/attention/registry.ts';
import { SdPipeline } from '../pipelines/recipes/sd/pipeline.ts';

test('every variant in the option list has a plug-in, and the schema accepts exactly those kinds', () => {
  assert.deepEqual(Object.keys(ATTENTION_PLUGINS).sort(), [...ATTENTION_KINDS].sort());
  for (const v of ATTENTION_VARIANTS) assert.equal(ATTENTION_PLUGINS[v.id].id, v.id);
  assert.equal(AttentionSchema.safeParse({ kind: 'flash' }).success, false);
  assert.deepEqual(attentionCliForms(), ['softmax', 'agent[:ratio=X,agentRatio=X,agentSteps=X]', 'linfusion:PATH']);
});

test('a request without agent options parses to itself (recorded requests read back unchanged)', () => {
  assert.deepEqual(AttentionSchema.parse({ kind: 'agent' }), { kind: 'agent' });
  assert.deepEqual(AttentionSchema.parse({ kind: 'agent', ratio: 0.5 }), { kind: 'agent', ratio: 0.5 });
  const bad = AttentionSchema.safeParse({ kind: 'agent', agentRatio: 1.5 });
  assert.equal(bad.success, false);
  assert.match(bad.error!.issues[0].message, /agentRatio: must be below 1/);
});

test('--attention text: kinds, paths and agent options, with errors that say what is expected', () => {
  assert.deepEqual(parseAttentionArg('softmax'), { kind: 'softmax' });
  assert.deepEqual(parseAttentionArg('linfusion:models/lf'), { kind: 'linfusion', path: 'models/lf' });
  assert.deepEqual(parseAttentionArg('agent:ratio=0.5,agentSteps=0.2'), { kind: 'agent', ratio: 0.5, agentSteps: 0.2 });
  assert.equal(parseAttentionArg('flash'), 'expected softmax, agent or linfusion:PATH, got "flash"');
  assert.equal(parseAttentionArg('linfusion:'), 'expected softmax, agent or linfusion:PATH, got "linfusion:"');
  assert.match(parseAttentionArg('agent:speed=2') as string, /agent options are ratio=X,agentRatio=X,agentSteps=X, got "speed=2"/);
  assert.match(parseAttentionArg('agent:ratio=fast') as string, /agent ratio: must be a number/);
  assert.match(parseAttentionArg('softmax:x') as string, /softmax takes no options/);
});

test("AgentSD's schedule: agents for the first 20 of 50 steps (scaled), ToMe after; the request's options move it", () => {
  const schedule = attentionSchedule({ kind: 'agent' }, 7);
  const options = (step: number, steps: number) => (schedule(step, steps).build() as AgentAttention).options;
  assert.deepEqual(options(0, 50), AGENT_SD_EARLY);
  assert.deepEqual(options(19, 50), AGENT_SD_EARLY);
  assert.deepEqual(options(20, 50), AGENT_SD_LATE);
  assert.deepEqual(options(3, 10), AGENT_SD_EARLY);
  assert.deepEqual(options(4, 10), AGENT_SD_LATE);
  assert.equal(schedule(0, 10).key, schedule(3, 10).key, 'one graph for the whole agent phase');
  assert.notEqual(schedule(0, 10).key, schedule(4, 10).key);

  const custom = attentionSchedule({ kind: 'agent', ratio: 0.3, agentRatio: 0.9, agentSteps: 0.5 }, 7);
  const early = (custom(4, 10).build() as AgentAttention).options;
  assert.deepEqual([early.ratio, early.agentRatio, early.sx], [0.3, 0.9, 4]);
  const late = (custom(5, 10).build() as AgentAttention).options;
  assert.deepEqual([late.ratio, late.agentRatio, late.sx], [0.3, AGENT_SD_LATE.agentRatio, 2]);

  const single = attentionSchedule({ kind: 'softmax' }, 7);
  assert.equal(single(0, 10).key, single(9, 10).key);
  assert.equal(single(0, 10).feeds, undefined);
});

test('where variants apply: softmax everywhere, AgentSD on SD 1.x/2.x, LinFusion on SD 1.x/2.x/XL', () => {
  assert.deepEqual(variantsFor('sd1'), ['softmax', 'agent', 'linfusion']);
  assert.deepEqual(variantsFor('sdxl'), ['softmax', 'linfusion']);
  assert.deepEqual(variantsFor('emoji-lit'), ['softmax']);
  assert.equal(runsOn('agent', 'sd2'), true);
  assert.equal(runsOn('agent', 'dit'), false);
});

test('FLOPs counted on the SD UNet graph: AgentSD costs less than softmax at 64×64 latents', { skip: skipWithoutFixtures }, () => {
  const cfg = parseUNetConfig(JSON.parse(readFileSync(fixture('sd15-tiny', 'unet', 'config.json'), 'utf8')));
  const weights = SafetensorsFile.open(fixture('sd15-tiny', 'unet', 'diffusion_pytorch_model.safetensors'));
  const count = (kind: 'softmax' | 'agent', step: number) =>
    attentionFlops(attentionSchedule({ kind }, 1)(step, 10).build(), (graph, selfAttention) => {
      buildUNet(weights, cfg, { batch: 2, height: 64, width: 64, selfAttention, graph });
    });
  const softmax = count('softmax', 0);
  const agent = count('agent', 0);
  const tome = count('agent', 9);
  assert.ok(agent.byOp.MultiHeadAttention < tome.byOp.MultiHeadAttention, `agent ${agent.byOp.MultiHeadAttention} vs ToMe ${tome.byOp.MultiHeadAttention}`);
  assert.ok(tome.byOp.MultiHeadAttention < softmax.byOp.MultiHeadAttention);
  assert.ok(agent.flops < softmax.flops);
});

test('AgentSD through the SD pipeline: a seed gives the same image twice, and it differs from softmax', { skip: skipWithoutFixtures }, async () => {
  const pipe = SdPipeline.load(fixture('sd15-tiny'));
  try {
    const run = (seed: number, kind: 'agent' | 'softmax' = 'agent') =>
      pipe.generate({ prompt: 'a red apple', steps: 4, cfg: 5, sampler: 'ddim', seed, width: 64, height: 64, attention: { kind } });
    const a = await run(3);
    const b = await run(3);
    assert.deepEqual(a.images, b.images);
    const softmax = await run(3, 'softmax');
    assert.notDeepEqual(a.images, softmax.images, 'agent attention changes the image');
    assert.ok(a.images.every(Number.isFinite));
  } finally {
    await pipe.release();
  }
});
