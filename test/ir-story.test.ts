// Story mode end to end on the tiny SD 1.x fixture (random weights: exactness, not image quality),
// and the input checks that must stop a story before anything runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ClipTokenizer } from '../pipelines/text/clip-tokenizer.ts';
import { SdPipeline } from '../pipelines/recipes/sd/pipeline.ts';
import { encodePrompts } from '../pipelines/recipes/sd/conditioning.ts';
import { Session } from '../pipelines/runtime/session.ts';
import { gridFeeds } from '../pipelines/recipes/story/reposition-masks.ts';
import { boxArea, MAX_OVERLAP, overlapArea, StoryInputError } from '../pipelines/recipes/story/boxes.ts';
import { buildStoryUNet } from '../pipelines/recipes/story/ir-unet.ts';
import { runPass } from '../pipelines/recipes/story/pass.ts';
import { runStory } from '../pipelines/recipes/story/run-story.ts';
import { clipWordPositions, sdStoryModel } from '../pipelines/recipes/story/sd-story-model.ts';
import { locateSubjects, parseStory, type Story } from '../pipelines/recipes/story/story.ts';
import { mutualLayerIndices } from '../pipelines/attention/reposition.ts';
import { buildUNet } from '../pipelines/models/unet/unet.ts';
import { fixture, relL2, skipWithoutFixtures } from './fixtures.ts';

const skip = skipWithoutFixtures;

const base = {
  subjects: [{ name: 'cat', words: 'cat face' }, { name: 'pizza' }],
  scenes: [{ prompt: 'a cat face and a pizza', boxes: { cat: [0, 0.2, 0.5, 0.8], pizza: [0.5, 0.2, 1, 0.8] } }],
};
const withScene = (scene: Record<string, unknown>) => ({ ...base, scenes: [scene] });
const locate = (story: Story, tokenizer: ClipTokenizer) => locateSubjects(story, (prompt, words) => clipWordPositions(tokenizer, prompt, words), { referenceWords: true });

test('bad stories are refused with the field, the subject and what to do', () => {
  const cases: Array<[unknown, RegExp]> = [
    [withScene({ prompt: 'a cat face and a pizza', boxes: { cat: [0, 0, 0.6, 1], pizza: [0.4, 0, 1, 1] } }), /boxes of "cat" \[0, 0, 0\.6, 1\] and "pizza" \[0\.4, 0, 1, 1\] overlap by 33% of the smaller box; at most 25% is allowed/],
    [withScene({ prompt: 'a cat face', boxes: { cat: [-0.1, 0, 0.5, 1] } }), /scene 1, box of "cat": box \[-0\.1, 0, 0\.5, 1\] reaches outside the image; coordinates are fractions/],
    [withScene({ prompt: 'a cat face', boxes: { cat: [0.2, 0, 1.5, 1] } }), /reaches outside the image/],
    [withScene({ prompt: 'a cat face', boxes: { cat: [0.5, 0, 0.5, 1] } }), /box \[0\.5, 0, 0\.5, 1\] is empty; it needs left < right/],
    [withScene({ prompt: 'a cat face', boxes: { cat: [0, 0, 1] } }), /a box is \[left, top, right, bottom\], four numbers/],
    [withScene({ prompt: 'a dog', subjects: ['dog'] }), /scene 1: no subject is named "dog" \(subjects: cat, pizza\)/],
    [withScene({ prompt: 'a cat face', subjects: ['cat'], boxes: { pizza: [0, 0, 1, 1] } }), /has a box for "pizza", which is not among its subjects/],
    [{ ...base, subjects: [{ name: 'cat' }, { name: 'cat' }] }, /two subjects are named "cat"/],
    [{ ...base, scenes: [{ boxes: {} }] }, /story: scenes\.0\.prompt:/],
    [{ ...base, subjects: [] }, /a story needs at least one subject/],
    [{ ...base, width: 100 }, /width: must be a multiple of 8/],
  ];
  for (const [json, message] of cases) assert.throws(() => parseStory(json), (e: Error) => e instanceof StoryInputError && message.test(e.message), String(message));
  assert.doesNotThrow(() => parseStory(withScene({ prompt: 'a cat face and a pizza', boxes: { cat: [0, 0, 0.55, 1], pizza: [0.45, 0, 1, 1] } })), 'a 18% overlap is allowed');
});

test('a scene with more subjects than its prompt names is refused, naming the missing words', { skip }, () => {
  const tokenizer = ClipTokenizer.fromFolder(fixture('sd15-tiny', 'tokenizer'));
  const story = parseStory(withScene({ prompt: 'a cat face on a table', subjects: ['cat', 'pizza'] }));
  assert.throws(() => locate(story, tokenizer), /scene 1 \("a cat face on a table"\) has 2 subjects but its prompt names only 1: "pizza" \(pizza\) does not occur in it; add the words/);
  const boxed = parseStory(withScene({ prompt: 'a cat on a table', boxes: { cat: [0, 0, 0.5, 1] } }));
  assert.throws(() => locate(boxed, tokenizer), /names none of them: "cat face" \(cat\)/);
  const description = parseStory({ ...base, subjects: [{ name: 'cat', words: 'cat face', description: 'a kitten' }, { name: 'pizza' }] });
  assert.throws(() => locate(description, tokenizer), /subject 1 \("cat"\): its words "cat face" do not occur in its description "a kitten"/);
  const example = parseStory(JSON.parse(readFileSync(resolve(import.meta.dirname, '../examples/story-emoji.json'), 'utf8')), 'examples/story-emoji.json');
  assert.deepEqual(locate(example, tokenizer).scenes.map((s) => s.names), [['cat', 'pizza'], ['cat', 'pizza'], ['cat', 'pizza']], 'the example story is valid');
  const found = locate(parseStory(base), tokenizer);
  assert.deepEqual(found.scenes[0], { names: ['cat', 'pizza'], positions: [[2, 3], [6]] });
  assert.deepEqual(found.subjects, [[1, 2], [1]]);
});

test('sd15-tiny story: references and plain scenes are plain generations, IR changes the scene, open masks give the plain run', { skip }, async (t) => {
  const sd = SdPipeline.load(fixture('sd15-tiny'));
  const model = sdStoryModel(sd);
  const settings = { seed: 5, steps: 2, cfg: 7, sampler: 'ddim' as const, width: 128, height: 128 };
  const story = parseStory({
    ...settings,
    subjects: [{ name: 'cat', words: 'cat face', description: 'a cat face' }, { name: 'pizza', description: 'a pizza on a plate' }],
    scenes: [
      { prompt: 'a cat face and a pizza', boxes: { cat: [0, 0.2, 0.5, 0.8], pizza: [0.5, 0.2, 1, 0.8] } },
      { prompt: 'a pizza next to a cat face' },
    ],
  });
  const result = await runStory(model, story, { plainScenes: true });
  const image = (kind: string, index: number) => result.images.find((i) => i.kind === kind && i.index === index)!.rgb;
  const plainRun = async (prompt: string, seed: number) => (await sd.generate({ ...settings, prompt, negative: '', seed })).images;

  assert.deepEqual(image('reference', 0), await plainRun('a cat face', 5), 'reference 1 is the plain generation of its description with the story seed');
  assert.deepEqual(image('reference', 1), await plainRun('a pizza on a plate', 5));
  assert.deepEqual(image('plain-scene', 0), await plainRun('a cat face and a pizza', 6), 'scene 1 without IR is the plain generation with seed + 1');
  const change = relL2(image('scene', 0), image('plain-scene', 0));
  t.diagnostic(`IR scene vs plain scene: rel-L2 ${change.toExponential(2)}`);
  assert.ok(change > 1e-3, 'IR changes the scene');

  const proposed = result.images.find((i) => i.kind === 'scene' && i.index === 1)!.boxes!;
  assert.deepEqual(Object.keys(proposed), ['cat', 'pizza']);
  const [a, b] = [proposed.cat.box, proposed.pizza.box];
  assert.ok([a, b].every((box) => box.every((v) => v >= 0 && v <= 1) && box[0] < box[2] && box[1] < box[3]), `proposed boxes lie in the image: ${JSON.stringify(proposed)}`);
  assert.ok(overlapArea(a, b) <= MAX_OVERLAP * Math.min(boxArea(a), boxArea(b)) + 1e-9);
  assert.equal(proposed.cat.from, 'attention');
  assert.deepEqual(result.story.scenes.map((s) => s.seed), [6, 7]);
  assert.deepEqual(result.story.scenes[1].boxes.cat, a, 'the resolved story records the proposed boxes');

  // The same scene run through the story UNet with every mask open: the plain run, to float rounding.
  const stages = await sd.textStages(1);
  const text = await encodePrompts(stages, ['', 'a cat face', 'a pizza on a plate', 'a cat face and a pizza']);
  const denoiser = model.denoiser(story);
  const unet = buildStoryUNet(sd.sources.unet, sd.unetConfig, { batch: { groups: 2, subjects: 2 }, height: 16, width: 16, textLength: 77, mutualLayers: new Set(mutualLayerIndices(sd.layers.length)) });
  const session = await Session.create(unet.graph);
  const closed = Object.assign({}, ...unet.inputs.grids.map((g) => {
    const s = g.grid.height * g.grid.width;
    const none = [new Uint8Array(s), new Uint8Array(s)];
    return gridFeeds(g, { targets: none, queries: none, maps: none.map(() => ({ index: new Int32Array(s), weight: new Float32Array(s) })) });
  }));
  const noise = (seed: number) => () => new Float32Array(4 * 16 * 16).fill(seed);
  const open = await runPass(denoiser, { session, textFeeds: sd.textFeeds(text, [0, 0, 1, 2, 0, 3], 128, 128), seed: 6, references: [noise(0.1), noise(-0.2)], feeds: () => closed });
  const plainSession = await Session.create(buildUNet(sd.sources.unet, sd.unetConfig, { batch: 2, height: 16, width: 16 }).graph);
  const plain = await runPass(denoiser, { session: plainSession, textFeeds: sd.textFeeds(text, [0, 3], 128, 128), seed: 6 });
  const err = relL2(open.latents, plain.latents);
  t.diagnostic(`open masks vs plain run, final latents: rel-L2 ${err.toExponential(2)}`);
  assert.ok(err < 1e-5, `rel-L2 ${err}`);
  await Promise.all([session.release(), plainSession.release()]);
  await model.release();
});
