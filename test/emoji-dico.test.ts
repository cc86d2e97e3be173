import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import { CheckpointShapeError, RenamedSource } from '../pipelines/onnx/weights.ts';
import { Session, tensor } from '../pipelines/runtime/session.ts';
import { readEmojiConfig } from '../pipelines/models/emoji/config.ts';
import { buildEmojiDiCo } from '../pipelines/models/emoji/dico.ts';
import { relL2 } from './fixtures.ts';

const DIR = resolve(import.meta.dirname, '../assets/models/emoji-dico');
const skip = existsSync(join(DIR, 'parity.safetensors')) ? false : `${DIR}/parity.safetensors not found (the emoji models are not in this checkout)`;
const INPUTS = ['x', 't', 'text_tokens', 'text_mask', 'text_pooled'] as const;

async function forward(dtype: 'float32' | 'float16'): Promise<{ out: Float32Array; golden: Float32Array; inputs: readonly string[] }> {
  const cfg = readEmojiConfig(DIR, ['emoji-dico']);
  const parity = SafetensorsFile.open(join(DIR, 'parity.safetensors'));
  const session = await Session.create(buildEmojiDiCo(SafetensorsFile.open(join(DIR, 'model.safetensors')), cfg, { batch: 2, dtype }));
  try {
    const feeds = Object.fromEntries(INPUTS.map((k) => [k, tensor(parity.readFloat32(k), parity.info(k).shape)]));
    const out = (await session.run(feeds)).out.data as Float32Array;
    return { out, golden: parity.readFloat32('out'), inputs: session.inner.inputNames };
  } finally {
    await session.release();
  }
}

test('emoji-DiCo forward matches training/emoji/dico.py (fp32, rel-L2 < 1e-4)', { skip }, async () => {
  const { out, golden, inputs } = await forward('float32');
  assert.deepEqual([...inputs].sort(), [...INPUTS].sort(), 'the DiCo graph takes the same five inputs as the DiT');
  const err = relL2(out, golden);
  console.log(`emoji-dico fp32 rel-L2 = ${err.toExponential(2)}`);
  assert.ok(err < 1e-4, `rel-L2 ${err}`);
});

test('emoji-DiCo builds and runs in fp16 compute (rel-L2 < 5e-3 against the fp32 golden)', { skip }, async () => {
  const { out, golden } = await forward('float16');
  const err = relL2(out, golden);
  console.log(`emoji-dico fp16 rel-L2 = ${err.toExponential(2)}`);
  assert.ok(err < 5e-3, `rel-L2 ${err}`);
});

test('a checkpoint with a wrongly shaped tensor is refused, naming the file and tensor', { skip }, () => {
  const cfg = readEmojiConfig(DIR, ['emoji-dico']);
  const file = SafetensorsFile.open(join(DIR, 'model.safetensors'));
  // Serve decoder_level_1's first conv1 from the 192-wide decoder_level_2: a width mismatch.
  const wrong = new RenamedSource(file, (n) => (n === 'decoder_level_1.blocks.0.conv1.weight' ? 'decoder_level_2.blocks.0.conv1.weight' : n));
  assert.throws(() => buildEmojiDiCo(wrong, cfg, { batch: 1 }), (e: unknown) => {
    assert.ok(e instanceof CheckpointShapeError);
    assert.match(e.message, /model\.safetensors.*decoder_level_1\.blocks\.0\.conv1\.weight.*\[192,192,1,1\].*\[96,96,1,1\]/);
    return true;
  });
  assert.throws(() => buildEmojiDiCo(file, cfg, { batch: 0 }), /batch must be a positive integer/);
});
