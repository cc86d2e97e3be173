// `studio story`: a story with a generated subject and a user's image writes its set with metadata
// and the resolved story; bad stories and taken outputs stop before anything runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storyCommand } from '../app/cli/story-command.ts';
import { UsageError } from '../app/cli/exit-codes.ts';
import { encodePng } from '../pipelines/metadata/encode-png.ts';
import { readPngTextMap } from '../pipelines/metadata/png-text.ts';
import { STORY_KEYWORD, type StoryMetadata } from '../pipelines/recipes/story/story-metadata.ts';
import { fixture, skipWithoutFixtures } from './fixtures.ts';

const skip = skipWithoutFixtures;

async function quietly<R>(f: () => Promise<R>): Promise<R> {
  const write = process.stdout.write;
  process.stdout.write = (() => true) as typeof process.stdout.write;
  try {
    return await f();
  } finally {
    process.stdout.write = write;
  }
}

test('studio story writes references, scenes and the resolved story, with metadata', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'studio-story-'));
  const pixels = Uint8Array.from({ length: 128 * 128 * 3 }, (_, i) => (i % 383) & 255);
  writeFileSync(join(dir, 'pizza.png'), await encodePng({ width: 128, height: 128, pixels }));
  const story = {
    seed: 3, steps: 1, cfg: 7, sampler: 'ddim', width: 128, height: 128,
    subjects: [{ name: 'cat', words: 'cat face', description: 'a cat face' }, { name: 'pizza', image: 'pizza.png' }],
    scenes: [{ prompt: 'a cat face and a pizza', boxes: { cat: [0, 0.25, 0.5, 0.75], pizza: [0.5, 0.25, 1, 0.75] } }],
  };
  const file = join(dir, 'story.json');
  writeFileSync(file, JSON.stringify(story));
  const out = join(dir, 'out');
  const args = [file, '--out', out, '--model', fixture('sd15-tiny')];
  assert.equal(await quietly(() => storyCommand(args)), 0);

  assert.deepEqual(readdirSync(out).sort(), ['reference-1-cat.png', 'scene-01.png', 'story.json']);
  const resolved = JSON.parse(readFileSync(join(out, 'story.json'), 'utf8'));
  assert.deepEqual(resolved.scenes[0].subjects, ['cat', 'pizza']);
  assert.equal(resolved.scenes[0].seed, 4);
  assert.equal(resolved.subjects[1].image, join(dir, 'pizza.png'), 'image paths are resolved against the story file');

  const text = readPngTextMap(readFileSync(join(out, 'scene-01.png')));
  assert.match(text.get('parameters')!, /^a cat face and a pizza\nSteps: 1, Sampler: DDIM, .*Seed: 4, Size: 128x128, Model: sd15-tiny, .*IR-Diffusion: "?isolation \+ reposition \+ mutual cross-attention, dropout 0\.5, lambda 0\.9"?, Subject boxes: "?cat: 0 0\.25 0\.5 0\.75 \(user\); pizza: 0\.5 0\.25 1 0\.75 \(user\)"?/);
  const meta = JSON.parse(text.get(STORY_KEYWORD)!) as StoryMetadata;
  assert.deepEqual([meta.image.kind, meta.image.index, meta.image.seed], ['scene', 0, 4]);
  assert.deepEqual(meta.story.scenes[0].boxes, resolved.scenes[0].boxes);

  await assert.rejects(storyCommand(args), (e: Error) => e instanceof UsageError && /already holds story\.json, reference-1-cat\.png, scene-01\.png/.test(e.message));
});

test('studio story refuses bad stories before loading a model', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'studio-story-'));
  const write = (name: string, json: unknown) => {
    writeFileSync(join(dir, name), typeof json === 'string' ? json : JSON.stringify(json));
    return [join(dir, name), '--out', join(dir, 'out'), '--model', fixture('sd15-tiny')];
  };
  const overlap = { subjects: [{ name: 'a' }, { name: 'b' }], scenes: [{ prompt: 'a and b', boxes: { a: [0, 0, 0.7, 1], b: [0.3, 0, 1, 1] } }] };
  await assert.rejects(storyCommand(write('overlap.json', overlap)), (e: Error) => e instanceof UsageError && /overlap\.json: scene 1: the boxes of "a" .* overlap by 57%/.test(e.message));
  const missing = { subjects: [{ name: 'cat', image: 'nowhere.png' }], scenes: [{ prompt: 'a cat' }] };
  await assert.rejects(storyCommand(write('missing.json', missing)), (e: Error) => e instanceof UsageError && /the image of subject "cat", .*nowhere\.png, does not exist/.test(e.message));
  await assert.rejects(storyCommand(write('broken.json', '{"subjects": [')), (e: Error) => e instanceof UsageError && /broken\.json is not valid JSON/.test(e.message));
  await assert.rejects(storyCommand([join(dir, 'overlap.json')]), (e: Error) => e instanceof UsageError && /--out DIR is required/.test(e.message));
});
