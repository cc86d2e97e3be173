import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import { EmojiPipeline, type EmojiResult } from '../pipelines/recipes/emoji/pipeline.ts';
import { timeGrid } from '../pipelines/samplers/rectified-flow.ts';
import { BadRequestError } from '../pipelines/jobs/api.ts';
import { TorchGenerator } from '../pipelines/random/torch-randn.ts';
import { relL2 } from './fixtures.ts';

const ASSETS = resolve(import.meta.dirname, '../assets/models');
const skip = existsSync(join(ASSETS, 'emoji-dit/parity.safetensors')) ? false : `${ASSETS} has no emoji models (not in this checkout)`;
/** Row 0 of emoji-text/parity.safetensors `ids`; the sample goldens guide it against row 1, the empty prompt. */
const PARITY_PROMPT = 'a cat face and a slice of pizza, twemoji style';

/** The golden image before clamping, NCHW → the pipeline's NHWC [0, 1]. */
function goldenImage(nchw: Float32Array, side: number): Float32Array {
  const plane = side * side;
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) for (let p = 0; p < plane; p++) out[p * 3 + c] = (Math.min(1, Math.max(-1, nchw[c * plane + p])) + 1) / 2;
  return out;
}

test('the time grid runs from 1 to 0 with the shift of training/emoji/flow.py', () => {
  assert.deepEqual(timeGrid(2, 1), [1, 0.5, 0]);
  const g = timeGrid(4, 3);
  assert.equal(g[0], 1);
  assert.equal(g[4], 0);
  assert.ok(Math.abs(g[2] - (3 * 0.5) / (1 + 2 * 0.5)) < 1e-15);
});

for (const name of ['emoji-dit', 'emoji-lit', 'emoji-dico'] as const) {
  test(`${name}: the whole guided sample matches PyTorch (latent and image rel-L2 < 1e-3)`, { skip }, async () => {
    const parity = SafetensorsFile.open(join(ASSETS, name, 'parity.safetensors'));
    const scalar = (k: string) => parity.readFloat32(k)[0];
    const pipeline = await EmojiPipeline.load(name);
    try {
      const textIds = SafetensorsFile.open(join(ASSETS, 'emoji-text/parity.safetensors')).readBytes('ids');
      assert.deepEqual(pipeline.tokenizer.encode(PARITY_PROMPT).ids, [...new Int32Array(textIds.buffer.slice(textIds.byteOffset, textIds.byteOffset + 24 * 4))]);
      const r = await pipeline.generate({
        prompt: PARITY_PROMPT,
        seed: 0,
        steps: scalar('sample_steps'),
        cfg: scalar('sample_cfg'),
        shift: scalar('sample_shift'),
        initialNoise: parity.readFloat32('sample_noise'),
      });
      assert.equal(r.latentsPerStep.length, scalar('sample_steps'));
      const latentErr = relL2(r.latentsPerStep.at(-1)!, parity.readFloat32('sample_latent'));
      const imageErr = relL2(r.images, goldenImage(parity.readFloat32('sample_image'), 64));
      console.log(`${name} sample: latent rel-L2 ${latentErr.toExponential(2)}, image rel-L2 ${imageErr.toExponential(2)}`);
      assert.ok(latentErr < 1e-3, `latent rel-L2 ${latentErr}`);
      assert.ok(imageErr < 1e-3, `image rel-L2 ${imageErr}`);
      assert.deepEqual([r.count, r.width, r.height, r.images.length], [1, 64, 64, 64 * 64 * 3]);
    } finally {
      await pipeline.release();
    }
  });
}

describe('emoji-dit batching, seeds and head guidance', { skip }, () => {
  let pipeline: EmojiPipeline;
  before(async () => {
    pipeline = await EmojiPipeline.load('emoji-dit');
  });
  after(() => pipeline?.release());
  const base = { prompt: 'a smiling cat face', seed: 7, steps: 2 };

  test('two images in one call equal two single-image runs from the same noise rows', async () => {
    const both = await pipeline.generate({ ...base, images: 2 });
    const rows = new TorchGenerator(7).randn([2, 4, 16, 16]);
    const half = rows.length / 2;
    for (const n of [0, 1]) {
      const one = await pipeline.generate({ ...base, initialNoise: rows.slice(n * half, (n + 1) * half) });
      const plane = 64 * 64 * 3;
      const err = relL2(both.images.subarray(n * plane, (n + 1) * plane), one.images);
      assert.ok(err < 1e-5, `image ${n}: batched vs single rel-L2 ${err}`);
    }
  });

  test('cfg = 1 runs the conditional branch alone and says the negative prompt is unused', async () => {
    const r = await pipeline.generate({ ...base, cfg: 1, negative: 'dog' });
    assert.ok(r.notes.some((n) => /negative prompt unused/.test(n)), r.notes.join(' | '));
  });

  test('the same seed gives the same image; another seed another', async () => {
    const a = await pipeline.generate(base);
    const b = await pipeline.generate(base);
    const c = await pipeline.generate({ ...base, seed: 8 });
    assert.deepEqual(a.images, b.images);
    assert.ok(relL2(a.images, c.images) > 1e-2);
  });

  test('head guidance: u = 0 on the picked heads changes nothing; u = 1 changes the image', async () => {
    const plain = await pipeline.generate(base);
    const zero = await pipeline.generate({ ...base, heads: { scale: 2, picks: [{ layer: 2, head: 1, u: 0 }] } });
    const full = await pipeline.generate({ ...base, heads: { scale: 2, picks: [0, 1, 2, 3].map((head) => ({ layer: 2, head, u: 1 })) } });
    assert.ok(relL2(zero.images, plain.images) < 1e-5, 'a perturbed branch with u = 0 equals the conditional one');
    assert.ok(relL2(full.images, plain.images) > 1e-3, 'PAG on a whole layer moves the image');
    await assert.rejects(pipeline.generate({ ...base, heads: { scale: 1, picks: [{ layer: 99, head: 0, u: 1 }] } }), (e: Error) => e instanceof BadRequestError && /layer 99/.test(e.message));
  });
});

describe('emoji bad input', { skip }, () => {
  let pipeline: EmojiPipeline;
  before(async () => {
    pipeline = await EmojiPipeline.load('emoji-dico');
  });
  after(() => pipeline?.release());
  const run = (o: Partial<Parameters<EmojiPipeline['generate']>[0]>): Promise<EmojiResult> => pipeline.generate({ prompt: 'a cat face', seed: 1, steps: 1, ...o });
  const rejects = (p: Promise<unknown>, pattern: RegExp) => assert.rejects(p, (e: Error) => {
    assert.ok(e instanceof BadRequestError, `${e.name}: ${e.message}`);
    assert.match(e.message, pattern);
    return true;
  });

  test('a prompt of only unknown words draws the nearest emoji name by spelling, and says so', async () => {
    const r = await run({ prompt: 'xyzzy Qwertz-xyzzy' });
    const note = r.notes.join(' | ');
    assert.match(note, /prompt "xyzzy Qwertz-xyzzy": emoji-dico knows none of its words \("xyzzy", "qwertz"\); it draws the nearest emoji it knows instead: "([a-z ]+)"/);
    const concept = /instead: "([a-z ]+)"/.exec(note)![1];
    assert.ok(pipeline.tokenizer.concepts.includes(concept), `${concept} is one of the emoji names`);
    const direct = await run({ prompt: concept });
    assert.equal(relL2(r.images, direct.images), 0, 'the fallback draws exactly what the name of the concept draws');
  });

  test("the UI's own example negative and A1111 negatives run: unknown words are left out, with a note", async () => {
    const r = await run({ negative: 'blurry, [lowres]' });
    assert.match(r.notes.join(' | '), /negative prompt "blurry, \[lowres\]": emoji-dico knows none of its words \("blurry", "lowres"\), so it is left out/);
    const empty = await run({ negative: '' });
    assert.equal(relL2(r.images, empty.images), 0, 'a negative of unknown words is the unconditional prompt');
    const a1111 = await run({ prompt: '(cat face:1.3), [heart] BREAK <hypernet:x:1>', negative: '(worst quality:1.4), EasyNegative, blurry' });
    assert.match(a1111.notes.join(' | '), /<hypernet:x:1> ignored.*weights, brackets and BREAK are read as plain words/);
    assert.equal(relL2(a1111.images, (await run({ prompt: 'cat face, heart', negative: 'quality' })).images), 0);
    const nested = await run({ prompt: `${'('.repeat(40)}cat face` });
    assert.equal(relL2(nested.images, (await run({ prompt: 'cat face' })).images), 0, 'brackets nested beyond the A1111 parser are read as plain words too');
  });

  test('partly unknown, misspelt and over-long prompts run, with notes; a 5,000-word prompt reads its first 23 words', async () => {
    const r = await run({ prompt: 'a cat face with a flurbish hat' });
    assert.ok(r.notes.some((n) => /does not know "flurbish" and leaves it out/.test(n)), r.notes.join(' | '));
    const typo = await run({ prompt: 'two puppys and a piza' });
    assert.match(typo.notes.join(' | '), /reads "puppys" as "puppy", "piza" as "pizza"/);
    const words = Array.from({ length: 5000 }, (_, i) => ['cat', 'dog', 'sun'][i % 3]);
    const long = await run({ prompt: words.join(' ') });
    const note = long.notes.find((n) => /cut off/.test(n)) ?? '';
    assert.match(note, /reads the first 23 words; 4977 more are cut off \("[a-z]+", .* and 4969 more\)/);
    assert.ok(note.length < 300, `the note stays short (${note.length} characters)`);
    assert.equal(relL2(long.images, (await run({ prompt: words.slice(0, 23).join(' ') })).images), 0);
  });

  test('128×128 goes through the 2× upsampler: the same image, larger and sharper than nearest-neighbour', async () => {
    const small = await run({});
    const large = await run({ size: 128 });
    assert.deepEqual([large.width, large.height, large.images.length], [128, 128, 128 * 128 * 3]);
    const nearest = new Float32Array(large.images.length).map((_, i) => {
      const [p, c] = [Math.floor(i / 3), i % 3];
      return small.images[((Math.floor(p / 256) * 64 + Math.floor((p % 128) / 2)) * 3) + c];
    });
    const diff = relL2(large.images, nearest);
    assert.ok(diff > 1e-3 && diff < 0.2, `128² vs nearest-upsampled 64²: rel-L2 ${diff}`);
    await rejects(run({ size: 96 }), /size 96: emoji-dico draws 64×64 or 128×128/);
  });

  test('an empty prompt gives an unconditional image, with a note', async () => {
    const r = await run({ prompt: '' });
    assert.equal(r.count, 1);
    assert.ok(r.notes.some((n) => /empty prompt: an unconditional image/.test(n)), r.notes.join(' | '));
    assert.ok(r.images.every((v) => v >= 0 && v <= 1));
  });

  test('a huge batch, bad steps, cfg, shift and seed are refused before any work', async () => {
    await rejects(run({ images: 65 }), /images = 65: .*1 to 64/);
    await rejects(run({ images: 0 }), /images = 0/);
    await rejects(run({ steps: 0 }), /steps = 0: must be a whole number from 1/);
    await rejects(run({ steps: 2.5 }), /steps = 2\.5/);
    await rejects(run({ cfg: -1 }), /cfg = -1/);
    await rejects(run({ shift: 0 }), /shift = 0/);
    await rejects(run({ seed: -3 }), /seed: .*out of range/);
    await rejects(run({ heads: { scale: 1, picks: [{ layer: 0, head: 0, u: 1 }] } }), /emoji-dico has no attention heads/);
    await rejects(run({ initialNoise: new Float32Array(3) }), /initialNoise has 3 values/);
    await rejects(run({ heads: { scale: -1, picks: [] } }), /heads\.scale = -1/);
  });

  test('an unknown model name or folder is refused with what to give instead', async () => {
    await assert.rejects(EmojiPipeline.load('/nonexistent/emoji-x'), /config\.json not found; give emoji-dit, emoji-lit, emoji-dico or a folder/);
  });

  test('an aborted signal stops the run between steps', async () => {
    const controller = new AbortController();
    controller.abort(new Error('stopped by the test'));
    await assert.rejects(run({ signal: controller.signal }), /stopped by the test/);
  });
});
