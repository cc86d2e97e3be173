// A1111 prompt weighting on SD3 (recipes/sd3/text.ts), checked against the plain prompt's encoding with
// the weights applied by hand: CLIP-L and CLIP-G scaled together with one mean restored over both (A1111's
// SD3 text model), T5 scaled with its own mean restored (Forge), the pooled vector untouched, long prompts
// and BREAK in further 77-token chunks ahead of T5's tokens.
import { test } from 'node:test';
import { resolve } from 'node:path';
import assert from 'node:assert/strict';
import { loadSd3Folder } from '../pipelines/recipes/sd3/sources.ts';
import { Sd3TextEncoders, weightedT5Ids } from '../pipelines/recipes/sd3/text.ts';
import { T5Tokenizer } from '../pipelines/text/t5-tokenizer.ts';
import { runGenerate } from '../pipelines/recipes/generate.ts';
import { GenerateRequestSchema } from '../pipelines/jobs/api.ts';
import { relL2, sd3TinyFolder, skipWithoutFixtures as skip } from './fixtures.ts';

const T5_TOKENS = 16;
const CLIP = 77;

/** `block` [tokens, width] with channels [from, to) of each token times its weight and their mean restored (float64). */
function emphasised(block: ArrayLike<number>, width: number, [from, to]: [number, number], weights: readonly number[]): Float64Array {
  const out = Float64Array.from(block);
  const inside = (i: number) => i % width >= from && i % width < to;
  let [before, after] = [0, 0];
  for (let i = 0; i < out.length; i++) {
    if (!inside(i)) continue;
    before += out[i];
    out[i] *= weights[Math.floor(i / width)] ?? 1;
    after += out[i];
  }
  for (let i = 0; i < out.length; i++) if (inside(i)) out[i] *= before / after;
  return out;
}

test('SD3 A1111 weighting: "(red:1.5)" scales CLIP-L+G jointly and T5, means restored; pooled unchanged', { skip }, async (t) => {
  const sources = loadSd3Folder(sd3TinyFolder());
  const enc = await Sd3TextEncoders.create(sources, T5_TOKENS);
  const [plain, weighted] = [await enc.encode(['a red cat']), await enc.encode(['a (red:1.5) cat'])];
  await enc.release();
  const width = enc.jointWidth;
  const clipWidth = sources.clipL.config.hiddenSize + sources.clipG.config.hiddenSize;
  assert.equal(weighted.tokens, CLIP + T5_TOKENS);
  assert.deepEqual(weighted.pooled, plain.pooled, 'the pooled vector does not depend on the weights');

  // CLIP: token 2 ("red" after BOS and "a") × 1.5 over the [L | G] channels, one mean over both encoders.
  const red = [1, 1, 1.5];
  const clipBlock = plain.context.subarray(0, CLIP * width);
  const clipErr = relL2(weighted.context.subarray(0, CLIP * width), emphasised(clipBlock, width, [0, clipWidth], red));
  // A1111 on SDXL restores each encoder's mean on its own; SD3's one text model must not.
  const lWidth = sources.clipL.config.hiddenSize;
  const perEncoder = emphasised(emphasised(clipBlock, width, [0, lWidth], red), width, [lWidth, clipWidth], red);
  const perEncoderErr = relL2(weighted.context.subarray(0, CLIP * width), perEncoder);

  // T5: the same ids as the plain prompt (the tiny vocabulary splits "red" in two), those × 1.5, T5's own mean restored.
  const tokenizer = T5Tokenizer.load(sources.t5!.tokenizer);
  const t5 = weightedT5Ids(tokenizer, 'a (red:1.5) cat', T5_TOKENS);
  assert.deepEqual(t5.ids, tokenizer.encodePadded('a red cat', T5_TOKENS).ids);
  assert.ok(t5.weights.filter((w) => w === 1.5).length >= 1);
  const t5Err = relL2(weighted.context.subarray(CLIP * width), emphasised(plain.context.subarray(CLIP * width), width, [0, width], t5.weights));
  t.diagnostic(`CLIP joint rel-L2 ${clipErr.toExponential(2)} (per-encoder would be ${perEncoderErr.toExponential(2)}), T5 ${t5Err.toExponential(2)}`);
  assert.ok(clipErr < 1e-6 && t5Err < 1e-6, `${clipErr} ${t5Err}`);
  assert.ok(perEncoderErr > 1e-4, 'the joint mean differs from per-encoder means');
});

test('SD3 A1111 weighting: BREAK and long prompts add 77-token chunks before T5; cond and uncond rows line up and the model draws them', { skip }, async () => {
  const sources = loadSd3Folder(sd3TinyFolder());
  const enc = await Sd3TextEncoders.create(sources, T5_TOKENS);
  const long = Array(40).fill('red cat').join(' ');
  const text = await enc.encode(['', 'a cat BREAK a hat', long]);
  await enc.release();
  assert.equal(text.tokens, 2 * CLIP + T5_TOKENS);
  const r = await runGenerate(GenerateRequestSchema.parse({ model: sources.path, prompt: 'a (cat:1.3) BREAK [a hat]', negative: 'blurry', steps: 1, width: 64, height: 64, cfg: 3 }));
  assert.equal(r.model.family, 'sd3');
  assert.ok(new Set(r.images[0].pixels).size > 10, 'image is not flat');
});

test('SD3 T5 ids of a weighted prompt: parts tokenized on their own, truncated to length − 1, then </s> and padding', () => {
  const tokenizer = T5Tokenizer.load(resolve(import.meta.dirname, 'fixtures', 'sd3-tiny', 'tokenizer_3'));
  const long = weightedT5Ids(tokenizer, `(${Array(30).fill('red cat').join(' ')}:1.2) blue`, 12);
  assert.equal(long.ids.length, 12);
  assert.equal(long.ids[11], tokenizer.eosId);
  assert.deepEqual(long.weights, [...Array(11).fill(1.2), 1]);
  const short = weightedT5Ids(tokenizer, 'a [cat]', 12);
  const [a, cat] = [tokenizer.encode('a '), tokenizer.encode('cat')].map((ids) => ids.slice(0, -1));
  assert.deepEqual(short.ids, [...a, ...cat, tokenizer.eosId, ...Array(12 - a.length - cat.length - 1).fill(tokenizer.padId)]);
  assert.deepEqual(short.weights.slice(0, a.length + cat.length), [...a.map(() => 1), ...cat.map(() => 1 / 1.1)]);
});
