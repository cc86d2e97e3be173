// T5: the unigram tokenizer against the reference tokenizer's ids, and the encoder graph against
// transformers' T5EncoderModel (test/fixtures, made by bench/goldens/make_sd3_pixart.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import { readJsonObject } from '../pipelines/checkpoints/json-fields.ts';
import { T5Tokenizer, T5TokenizerError } from '../pipelines/text/t5-tokenizer.ts';
import { t5ConfigFromHf } from '../pipelines/models/t5/config.ts';
import { buildT5Graph } from '../pipelines/models/t5/encoder.ts';
import { relativePositionBucket } from '../pipelines/models/t5/relative-position.ts';
import { Session, ort } from '../pipelines/runtime/session.ts';
import { fixture, relL2, skipWithoutFixtures } from './fixtures.ts';

const own = (...p: string[]) => resolve(import.meta.dirname, 'fixtures', ...p);
const TOKENIZER = own('sd3-tiny', 'tokenizer_3');
const golden = JSON.parse(readFileSync(own('t5-tokenizer-golden.json'), 'utf8')) as { prompts: string[]; ids: number[][]; ids_padded_32: number[][] };

test('T5 tokenizer: ids identical to the reference tokenizer on the prompt set, plain and padded/truncated to 32', () => {
  const tok = T5Tokenizer.load(TOKENIZER);
  golden.prompts.forEach((p, i) => {
    assert.deepEqual(tok.encode(p), golden.ids[i], `prompt ${JSON.stringify(p)}`);
    assert.deepEqual(tok.encodePadded(p, 32).ids, golden.ids_padded_32[i], `padded prompt ${JSON.stringify(p)}`);
  });
  assert.ok(golden.ids.some((ids) => ids.length > 32), 'the set includes a prompt that is truncated');
});

test('T5 tokenizer: a tokenizer file that is not SentencePiece is refused with a message saying what to give', { skip: skipWithoutFixtures }, () => {
  assert.throws(() => T5Tokenizer.load(fixture('tokenizer', 'tokenizer.json')), (e: Error) =>
    e instanceof T5TokenizerError && /not a SentencePiece unigram tokenizer/.test(e.message) && /"BPE"/.test(e.message) && /tokenizer_3/.test(e.message));
});

test('T5 tokenizer: a folder with only spiece.model, and a missing file, get clear errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 't5tok-'));
  writeFileSync(join(dir, 'spiece.model'), Buffer.alloc(16));
  assert.throws(() => T5Tokenizer.load(dir), /spiece\.model but no tokenizer\.json/);
  assert.throws(() => T5Tokenizer.load(join(dir, 'nothing.json')), /no such file.*tokenizer\.json of a T5 model/);
  writeFileSync(join(dir, 'tokenizer.json'), '{ not json');
  assert.throws(() => T5Tokenizer.load(dir), /not valid JSON/);
  copyFileSync(join(TOKENIZER, 'tokenizer.json'), join(dir, 'tokenizer.json'));
  assert.equal(T5Tokenizer.load(dir).eosId, 1);
});

test('T5 relative-position buckets: exact near, log-spaced far, direction in the upper half (t5-v1_1 settings)', () => {
  const b = (r: number) => relativePositionBucket(r, 32, 128);
  assert.deepEqual([0, 1, 7, -1, -7].map(b), [0, 17, 23, 1, 7]);
  assert.deepEqual([8, 12, 16, 32, 64, 127, 128, 1000].map(b), [24, 25, 26, 28, 30, 31, 31, 31]);
  assert.deepEqual([-8, -16, -32, -1000].map(b), [8, 10, 12, 15]);
});

async function encoderOutputs(dtype: 'float32' | 'float16', masked: boolean) {
  const folder = own('sd3-tiny', 'text_encoder_3');
  const cfg = t5ConfigFromHf(readJsonObject(join(folder, 'config.json')), folder);
  const g = SafetensorsFile.open(own('t5-tiny-golden.safetensors'));
  const ids = g.readBytes('input_ids');
  const ids64 = new BigInt64Array(ids.buffer, ids.byteOffset, ids.byteLength / 8);
  const rows = ids64.length / 32;
  const session = await Session.create(buildT5Graph(SafetensorsFile.open(join(folder, 'model.safetensors')), cfg, { seqLen: 32, dtype, masked }));
  const feeds: Record<string, ort.Tensor> = { input_ids: new ort.Tensor('int32', Int32Array.from(ids64, Number), [rows, 32]) };
  if (masked) {
    const m = g.readBytes('attention_mask');
    feeds.attention_mask = new ort.Tensor('int32', Int32Array.from(new BigInt64Array(m.buffer, m.byteOffset, m.byteLength / 8), Number), [rows, 32]);
  }
  const out = (await session.run(feeds)).hidden_state.data as Float32Array;
  await session.release();
  return { out, g };
}

test('T5 encoder: hidden states match transformers (no mask, as SD3 calls it)', async () => {
  const { out, g } = await encoderOutputs('float32', false);
  const err = relL2(out, g.readFloat32('hidden'));
  assert.ok(err < 1e-4, `rel-L2 ${err}`);
});

test('T5 encoder: with the attention mask (as PixArt calls it)', async () => {
  const { out, g } = await encoderOutputs('float32', true);
  const err = relL2(out, g.readFloat32('hidden_masked'));
  assert.ok(err < 1e-4, `rel-L2 ${err}`);
  assert.ok(relL2(out, g.readFloat32('hidden')) > 1e-3, 'the mask changes the output');
});

test('T5 encoder: the fp16 graph (fp32 norms and wo, clamped residuals) stays close to fp32', async () => {
  const { out, g } = await encoderOutputs('float16', false);
  const err = relL2(out, g.readFloat32('hidden'));
  assert.ok(err < 5e-3, `rel-L2 ${err}`);
});
