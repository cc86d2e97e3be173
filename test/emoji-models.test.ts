// The project's own emoji models against the fp32 goldens the training code saved
// (assets/models/emoji-*/parity.safetensors; training/ARCHITECTURE.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SafetensorsFile } from '../pipelines/io/safetensors.ts';
import { ort, tensor } from '../pipelines/runtime/session.ts';
import { HEAD_WEIGHTS_INPUT, headWeightsData, wholeLayerPicks } from '../pipelines/attention/head-perturbation.ts';
import { readEmojiConfig, type EmojiTransformerConfig } from '../pipelines/models/emoji/config.ts';
import { EmojiTokenizer, emojiWords } from '../pipelines/models/emoji/tokenizer.ts';
import { buildEmojiTextGraph } from '../pipelines/models/emoji/text.ts';
import { buildEmojiVaeDecoderGraph, buildEmojiVaeEncoderGraph } from '../pipelines/models/emoji/vae.ts';
import { buildEmojiDiT, emojiDitLayers, type EmojiDiTOptions } from '../pipelines/models/emoji/dit.ts';
import { buildEmojiUpsamplerGraph } from '../pipelines/models/emoji/upsampler.ts';
import { relL2 } from './fixtures.ts';
import { runGraph } from './run-graph.ts';

const MODELS = resolve(import.meta.dirname, '..', 'assets', 'models');
const folder = (name: string) => join(MODELS, `emoji-${name}`);
const skip = ['text', 'vae', 'dit', 'lit'].every((n) => existsSync(join(folder(n), 'parity.safetensors')))
  ? false
  : 'assets/models/emoji-*/parity.safetensors not found';
const PROMPT = 'a cat face and a slice of pizza, twemoji style';

const parity = (name: string) => SafetensorsFile.open(join(folder(name), 'parity.safetensors'));
const model = (name: string) => SafetensorsFile.open(join(folder(name), 'model.safetensors'));

function closeTo(t: { diagnostic(m: string): void }, what: string, ours: Float32Array, golden: Float32Array, bound = 1e-4): void {
  const err = relL2(ours, golden);
  t.diagnostic(`${what}: rel-L2 ${err.toExponential(2)}`);
  assert.ok(err < bound, `${what}: rel-L2 ${err} ≥ ${bound}`);
}

test('tokenizer: the documented prompt and the empty prompt give the parity file ids', { skip }, () => {
  const tok = EmojiTokenizer.fromFolder(folder('text'));
  const ids = new Int32Array(parity('text').readBytes('ids').slice().buffer);
  const { ids: batch, encodings } = tok.encodeBatch([PROMPT, '']);
  assert.deepEqual([...batch], [...ids]);
  assert.deepEqual(encodings.map((e) => e.unknown), [[], []]);
  assert.equal(encodings[1].ids[0], 1);
});

test('tokenizer: word rules (NFKD, marks dropped, lower case, breaks outside [a-z0-9]) and unknown words', { skip }, () => {
  assert.deepEqual(emojiWords('  Crème BRÛLÉE—on_a   plate!! 3rd '), ['creme', 'brulee', 'on', 'a', 'plate', '3rd']);
  assert.deepEqual(emojiWords('ﬁsh ①'), ['fish', '1']); // compatibility forms fold under NFKD
  assert.deepEqual(emojiWords('日本 ∅ 🍕'), []);
  const tok = EmojiTokenizer.fromFolder(folder('text'));
  const e = tok.encode('a zqxj cat zqxj');
  assert.deepEqual(e.unknown, ['zqxj']);
  assert.deepEqual(e.ids.slice(0, 5), [1, tok.idOf('a'), 2, tok.idOf('cat'), 2]);
  const long = tok.encode(Array(30).fill('cat').join(' '));
  assert.equal(long.ids.length, 24);
  assert.equal(long.truncated.length, 30 - 23);
  assert.ok(long.ids.slice(1).every((id) => id === tok.idOf('cat')));
});

test('config errors name the file and what is wrong', { skip }, () => {
  assert.throws(() => readEmojiConfig(folder('vae'), ['emoji-text']), /emoji-vae[/\\]config\.json: holds an emoji-vae model where emoji-text is needed/);
  const dir = mkdtempSync(join(tmpdir(), 'emoji-config-'));
  try {
    assert.throws(() => readEmojiConfig(dir), /config\.json: cannot be read/);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ architecture: 'emoji-dit', hidden_size: 250, num_heads: 4 }));
    assert.throws(() => readEmojiConfig(dir), /config\.json: invalid emoji-dit config \(.*patch_size/);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ architecture: 'dit-xl' }));
    assert.throws(() => readEmojiConfig(dir), /"architecture" is "dit-xl", not one of emoji-text/);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('emoji-text: tokens, pooled and mask match the golden (rel-L2 < 1e-4)', { skip }, async (t) => {
  const p = parity('text');
  const ids = new Int32Array(p.readBytes('ids').slice().buffer);
  const graph = buildEmojiTextGraph(model('text'), readEmojiConfig(folder('text'), ['emoji-text']), { batch: 2 });
  const out = await runGraph(graph, { ids: new ort.Tensor('int32', ids, [2, 24]) });
  for (const k of ['tokens', 'pooled']) closeTo(t, k, out[k], p.readFloat32(k));
  assert.deepEqual([...out.mask], [...p.readFloat32('mask')]);
});

test('emoji-vae: encoder and decoder match the golden (rel-L2 < 1e-4)', { skip }, async (t) => {
  const p = parity('vae');
  const cfg = readEmojiConfig(folder('vae'), ['emoji-vae']);
  const enc = await runGraph(buildEmojiVaeEncoderGraph(model('vae'), cfg, { batch: 2 }), { image: tensor(p.readFloat32('image'), [2, 3, 64, 64]) });
  closeTo(t, 'encoded', enc.encoded, p.readFloat32('encoded'));
  const dec = await runGraph(buildEmojiVaeDecoderGraph(model('vae'), cfg), { z: tensor(p.readFloat32('z'), [2, 4, 16, 16]) });
  closeTo(t, 'decoded', dec.decoded, p.readFloat32('decoded'));
});

test('emoji-upsampler: 64² → 128² matches the golden (rel-L2 < 1e-4) and differs from plain nearest-neighbour', { skip }, async (t) => {
  const p = parity('upsampler');
  const cfg = readEmojiConfig(folder('upsampler'), ['emoji-upsampler']);
  const image = p.readFloat32('image');
  const out = await runGraph(buildEmojiUpsamplerGraph(model('upsampler'), cfg, { batch: 2 }), { image: tensor(image, [2, 3, 64, 64]) });
  closeTo(t, 'upsampled', out.upsampled, p.readFloat32('upsampled'));
  const nearest = new Float32Array(2 * 3 * 128 * 128).map((_, i) => {
    const [plane, y, x] = [Math.floor(i / 16384), Math.floor((i % 16384) / 128), i % 128];
    return image[plane * 4096 + (y >> 1) * 64 + (x >> 1)];
  });
  assert.ok(relL2(out.upsampled, nearest) > 1e-2, 'the trained detail must change the nearest-neighbour image, or the test proves nothing');
});

function denoiserFeeds(name: string): Record<string, ort.Tensor> {
  const p = parity(name);
  const f = (k: string) => tensor(p.readFloat32(k), p.info(k).shape);
  return { x: f('x'), t: f('t'), text_tokens: f('text_tokens'), text_mask: f('text_mask'), text_pooled: f('text_pooled') };
}

const ditConfig = (name: string): EmojiTransformerConfig => readEmojiConfig(folder(name), ['emoji-dit', 'emoji-lit']);

async function denoise(name: string, o: Partial<EmojiDiTOptions> = {}, headWeights?: Float32Array): Promise<Float32Array> {
  const cfg = ditConfig(name);
  const feeds = denoiserFeeds(name);
  if (headWeights) feeds[HEAD_WEIGHTS_INPUT] = tensor(headWeights, [cfg.depth, headWeights.length / cfg.depth]);
  return (await runGraph(buildEmojiDiT(model(name), cfg, { batch: 2, ...o }), feeds)).out;
}

const row = (x: Float32Array, i: number) => x.subarray((i * x.length) / 2, ((i + 1) * x.length) / 2);

for (const name of ['dit', 'lit']) {
  test(`emoji-${name}: out matches the golden (rel-L2 < 1e-4)`, { skip }, async (t) => {
    closeTo(t, 'out', await denoise(name), parity(name).readFloat32('out'));
  });

  test(`emoji-${name}: head_weights all 0 gives exactly the unperturbed output`, { skip }, async () => {
    const layers = emojiDitLayers(ditConfig(name));
    const plain = await denoise(name);
    for (const perturbedRows of [1, 2]) {
      const perturbed = await denoise(name, { perturbedRows }, headWeightsData(layers, []));
      const differing = plain.reduce((n, v, i) => n + (v === perturbed[i] ? 0 : 1), 0);
      assert.equal(differing, 0, `perturbedRows ${perturbedRows}: ${differing} values differ`);
    }
  });

  test(`emoji-${name}: u = 1 on every head of a block equals that block's attention replaced by V, on the perturbed row only`, { skip }, async (t) => {
    const layers = emojiDitLayers(ditConfig(name));
    const block = 2;
    const weights = headWeightsData(layers, wholeLayerPicks(layers, [block]));
    const perturbed = await denoise(name, { perturbedRows: 1 }, weights);
    const plain = await denoise(name);
    const identity = await denoise(name, { identityLayers: [block] });
    const errPerturbed = relL2(row(perturbed, 1), row(identity, 1));
    const errPlain = relL2(row(perturbed, 0), row(plain, 0));
    const effect = relL2(row(identity, 1), row(plain, 1));
    t.diagnostic(`perturbed row vs identity graph ${errPerturbed.toExponential(2)}, other row vs plain ${errPlain.toExponential(2)}, effect ${effect.toExponential(2)}`);
    assert.ok(errPerturbed < 1e-6 && errPlain === 0, `perturbed ${errPerturbed}, plain ${errPlain}`);
    assert.ok(effect > 1e-3, 'replacing the attention must change the output, or the comparison proves nothing');
  });
}

test('emoji-dit: the layer list names blocks.k.attn with the self-attention head counts', { skip }, () => {
  const dit = emojiDitLayers(ditConfig('dit'));
  assert.deepEqual(dit.map((l) => l.name), Array.from({ length: 6 }, (_, k) => `blocks.${k}.attn`));
  assert.deepEqual(dit.map((l) => l.heads), Array(6).fill(4));
  assert.deepEqual(emojiDitLayers(ditConfig('lit')).map((l) => l.heads), Array(6).fill(2));
  assert.throws(() => buildEmojiDiT(model('dit'), ditConfig('dit'), { batch: 2, perturbedRows: 3 }), /perturbedRows 3 must be an integer from 0 to the batch size 2/);
});

test('emoji-dit and emoji-lit: fp16 builds stay close to the fp32 golden', { skip }, async (t) => {
  for (const name of ['dit', 'lit']) closeTo(t, `${name} fp16`, await denoise(name, { dtype: 'float16' }), parity(name).readFloat32('out'), 1e-2);
});
