// Head guidance on the embedded emoji models: their head layout, SoftPAG at u = 0 as no perturbation
// bit for bit, a small HeadHunter search through the emoji adapter, and the shipped presets, which
// must parse, fit the model they name, and round-trip.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmojiPipeline } from '../pipelines/recipes/emoji/pipeline.ts';
import { EmojiHeadModel } from '../pipelines/heads/emoji-model.ts';
import { inspectHeads } from '../pipelines/heads/inspect.ts';
import { headHunter } from '../pipelines/heads/headhunter.ts';
import { contrast } from '../pipelines/heads/objectives.ts';
import { makeHeadPreset, presetPicks, readHeadPreset, writeHeadPreset } from '../pipelines/heads/presets.ts';
import { presetDirs, resolveHeads, SHIPPED_PRESETS_DIR } from '../pipelines/heads/resolve.ts';

let lit: EmojiPipeline | undefined;
const emojiLit = async () => (lit ??= await EmojiPipeline.load('emoji-lit'));
after(() => lit?.release());

test('emoji models: heads per layer, and none on the convolutional DiCo', () => {
  assert.deepEqual(inspectHeads('emoji-dit').architecture.heads, [4, 4, 4, 4, 4, 4]);
  assert.deepEqual(inspectHeads('emoji-lit').architecture.heads, [2, 2, 2, 2, 2, 2]);
  assert.equal(inspectHeads('emoji-lit').layers[3].name, 'blocks.3.attn');
  assert.deepEqual(inspectHeads('emoji-dico').layers, []);
  assert.notEqual(inspectHeads('emoji-dit').architecture.hash, inspectHeads('emoji-lit').architecture.hash);
});

test('emoji-lit: u = 0 on every head is the unperturbed image; u = 1 is not', async () => {
  const model = new EmojiHeadModel(await emojiLit(), { prompt: 'grinning face, noto style', steps: 3 });
  const all = model.layers.flatMap((l) => Array.from({ length: l.heads }, (_, head) => ({ layer: l.index, head, u: 0 })));
  const o = { scale: 3, seed: 4, size: model.size };
  const plain = await model.render([], o);
  // Through the pipeline directly, so the perturbed branch really runs with u = 0.
  const zero = await model.pipe.generate({ prompt: 'grinning face, noto style', steps: 3, seed: 4, heads: { scale: 3, picks: all } });
  assert.deepEqual(zero.images, plain.data);
  const full = await model.render(all.map((p) => ({ ...p, u: 1 })), o);
  assert.notDeepEqual(full.data, plain.data);
  await assert.rejects(model.render([], { ...o, size: 128 }), /draws 64×64 images; previews of 128² are not possible/);
});

test('HeadHunter through the emoji adapter (one layer, one round)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'heads-emoji-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const model = new EmojiHeadModel(await emojiLit(), { prompt: 'red apple, twemoji style', steps: 3, cfg: 1 });
  const r = await headHunter(model, { objective: contrast, rounds: 1, k: 1, u: 1, scale: 3, size: model.size, candidates: [{ layer: 2, head: 0 }, { layer: 2, head: 1 }], cacheFile: join(dir, 'c.json') });
  assert.equal(r.renders, 2 + 2);
  assert.equal(r.heads.length, 1);
  assert.equal(r.rounds[0].score, r.rounds[0].ranking[0].score);
  const preset = makeHeadPreset({ name: 'lit-contrast', architecture: model.architecture, scale: 3, heads: r.heads });
  writeHeadPreset(join(dir, 'p.json'), preset);
  assert.deepEqual(presetPicks(readHeadPreset(join(dir, 'p.json')), inspectHeads('emoji-lit').architecture), r.heads);
  assert.throws(() => presetPicks(preset, inspectHeads('emoji-dit').architecture), /it is for a emoji-lit model and this model is emoji-dit/);
});

test('shipped presets parse, fit the model they were found on, round-trip, and resolve by name', (t) => {
  const files = readdirSync(SHIPPED_PRESETS_DIR).filter((f) => f.endsWith('.json'));
  assert.ok(files.length > 0, 'presets are shipped');
  const dir = mkdtempSync(join(tmpdir(), 'heads-shipped-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const f of files) {
    const preset = readHeadPreset(join(SHIPPED_PRESETS_DIR, f));
    const target = inspectHeads(preset.architecture.family);
    assert.equal(target.architecture.hash, preset.architecture.hash, `${f} names the architecture of ${preset.architecture.family}`);
    const picks = presetPicks(preset, target.architecture);
    writeHeadPreset(join(dir, f), preset);
    assert.deepEqual(readHeadPreset(join(dir, f)), preset);
    const sorted = [...picks].sort((a, b) => a.layer - b.layer || a.head - b.head);
    assert.deepEqual(resolveHeads(f.replace(/\.json$/, ''), target, presetDirs()), { picks: sorted, presetScale: preset.scale });
  }
});
