// Settings made for SD models, mapped onto the built-in emoji models with a note each (no ORT needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adaptToEmoji } from '../pipelines/families/emoji-adapt.ts';
import { GenerateRequestSchema } from '../pipelines/jobs/api.ts';

const request = (o: Record<string, unknown>) => GenerateRequestSchema.parse({ prompt: 'a cat face', seed: 1, ...o });

test('an SD sampler becomes flow-matching Euler, with a note; flow_euler and no sampler pass unchanged', () => {
  const r = adaptToEmoji(request({ sampler: 'dpmpp_2m_karras' }), 'emoji-lit');
  assert.equal(r.request.sampler, undefined);
  assert.deepEqual(r.notes, ['sampler dpmpp_2m_karras is for Stable Diffusion models; emoji-lit samples with its own flow-matching Euler']);
  assert.deepEqual(adaptToEmoji(request({ sampler: 'flow_euler' }), 'emoji-lit').notes, []);
  assert.deepEqual(adaptToEmoji(request({}), 'emoji-lit'), { request: request({}), notes: [] });
});

test('sizes: 64 draws 64×64, anything larger 128×128 (the upsampler); only changed sizes are noted', () => {
  const side = (o: Record<string, unknown>) => {
    const r = adaptToEmoji(request(o), 'emoji-dit');
    return [r.request.width, r.request.height, r.notes.length];
  };
  assert.deepEqual(side({ width: 64, height: 64 }), [64, 64, 0]);
  assert.deepEqual(side({ width: 128, height: 128 }), [128, 128, 0]);
  assert.deepEqual(side({ width: 512, height: 768 }), [128, 128, 1]);
  assert.deepEqual(side({ width: 64, height: 72 }), [128, 128, 1]);
  assert.deepEqual(side({ width: 1024 }), [128, 128, 1]);
  assert.match(adaptToEmoji(request({ width: 512, height: 768 }), 'emoji-dit').notes[0], /^size 512×768: emoji-dit draws 64×64 or 128×128; drawing 128×128$/);
});

test('<lora:…> tags leave the prompt and the negative, named in one note', () => {
  const r = adaptToEmoji(request({ prompt: 'a cat face <lora:ink:0.8>', negative: 'blurry <lyco:x> <lora:ink:0.8>' }), 'emoji-dico');
  assert.equal(r.request.prompt.trim(), 'a cat face');
  assert.equal(r.request.negative.trim(), 'blurry');
  assert.deepEqual(r.notes, ['<lora:ink:0.8>, <lyco:x> ignored: LoRAs are for Stable Diffusion models']);
});
