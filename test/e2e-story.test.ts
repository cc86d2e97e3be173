// Story mode end to end with the REAL engine (the embedded emoji-DiT): two subjects, two scenes, boxes
// drawn, moved and resized with the mouse and nudged with the keyboard in the method panel's box
// editor; the story runs in the engine host and its references and scenes land in the gallery with the
// boxes in their metadata. Overlapping boxes are refused with the reason before anything runs.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { readImageMetadata } from '../pipelines/metadata/read-metadata.ts';
import { STORY_KEYWORD, type StoryMetadata } from '../pipelines/recipes/story/story-metadata.ts';
import { browserSkipReason, openRealStudio, type RealStudio } from './e2e-real-studio.ts';
import { studioPerSuite } from './e2e-harness.ts';

const skip = browserSkipReason();

describe('story mode with the real emoji-dit model', { skip }, () => {
  let s: RealStudio;
  studioPerSuite(openRealStudio, (opened) => (s = opened));

  const field = (label: string) => s.page.getByLabel(label, { exact: true });
  const surface = (scene: number) => s.page.getByRole('group', { name: `Boxes of scene ${scene}` });
  const box = (subject: string, scene: number) => s.page.getByRole('button', { name: new RegExp(`^box of ${subject} in scene ${scene}:`) });

  /** Drags with the mouse between two points given as fractions of scene `scene`'s editor. */
  async function drag(scene: number, from: [number, number], to: [number, number]): Promise<void> {
    const r = (await surface(scene).boundingBox())!;
    await s.page.mouse.move(r.x + from[0] * r.width, r.y + from[1] * r.height);
    await s.page.mouse.down();
    await s.page.mouse.move(r.x + to[0] * r.width, r.y + to[1] * r.height, { steps: 6 });
    await s.page.mouse.up();
  }

  async function draw(scene: number, subject: string, from: [number, number], to: [number, number]): Promise<void> {
    await s.page.getByRole('radiogroup', { name: `Subject to draw in scene ${scene}` }).getByRole('radio', { name: subject }).check();
    await drag(scene, from, to);
  }

  /** The box's [left, top, right, bottom] in whole percent, as its label reads it. */
  async function boxOf(subject: string, scene: number): Promise<number[]> {
    const label = (await box(subject, scene).getAttribute('aria-label')) ?? '';
    return [...label.matchAll(/(\d+)%/g)].map((m) => Number(m[1]));
  }

  test('two subjects, two scenes, boxes drawn by mouse: the story runs and lands in the gallery with its boxes', async () => {
    await s.page.getByText('Story mode: the same subjects across scenes').click();
    await field('Story model').selectOption('emoji-dit');
    await field('Subject 1 name').fill('cat face');
    await field('Description').first().fill('a cat face');
    await field('Subject 2 name').fill('pizza');
    await field('Description').nth(1).fill('a pizza');
    await field('Scene 1 prompt').fill('a cat face and a pizza');
    await s.page.getByRole('button', { name: 'Add scene' }).click();
    await field('Scene 2 prompt').fill('a pizza and a cat face');
    await field('Story seed').fill('3');
    await field('Story steps').fill('4');

    await draw(1, 'cat face', [0.05, 0.2], [0.45, 0.8]);
    await draw(1, 'pizza', [0.95, 0.8], [0.55, 0.2]); // drawn from the other corner
    assert.deepEqual(await boxOf('cat face', 1), [5, 20, 45, 80]);
    assert.deepEqual(await boxOf('pizza', 1), [55, 20, 95, 80]);

    await draw(2, 'pizza', [0.1, 0.3], [0.4, 0.7]);
    await draw(2, 'cat face', [0.5, 0.3], [0.8, 0.7]);
    // Move the cat's box by its body, stretch it by its bottom-right corner, then nudge it with the keyboard.
    await drag(2, [0.65, 0.5], [0.7, 0.45]);
    assert.deepEqual(await boxOf('cat face', 2), [55, 25, 85, 65]);
    await drag(2, [0.85, 0.65], [0.95, 0.75]);
    assert.deepEqual(await boxOf('cat face', 2), [55, 25, 95, 75]);
    await box('cat face', 2).focus();
    await s.page.keyboard.press('ArrowDown');
    await s.page.keyboard.press('Shift+ArrowLeft');
    assert.deepEqual(await boxOf('cat face', 2), [55, 27, 93, 77]);
    await s.screenshot('studio-story', { docs: s.page.locator('fieldset:has(details.story)') });

    await s.page.getByRole('button', { name: 'Run story' }).click();
    await s.page.getByText('Queued story job-1 with seed 3.').waitFor();
    await s.page.locator('.jobs li.done').first().waitFor({ timeout: 120_000 });

    const files = readdirSync(s.outputsDir).filter((f) => f.endsWith('.png')).sort();
    assert.deepEqual(files.map((f) => f.replace(/^\d{8}-\d{6}-/, '')), ['story-3-ref1.png', 'story-3-ref2.png', 'story-3-scene1.png', 'story-3-scene2.png']);
    const meta = (file: string) => {
      const m = readImageMetadata(readFileSync(join(s.outputsDir, file)), file);
      return { parameters: m.text.get('parameters') ?? '', story: JSON.parse(m.text.get(STORY_KEYWORD) ?? 'null') as StoryMetadata };
    };
    const scene2 = meta(files[3]);
    assert.equal(scene2.story.image.kind, 'scene');
    assert.deepEqual(scene2.story.story.scenes.map((x) => x.boxes), [
      { 'cat face': [0.05, 0.2, 0.45, 0.8], pizza: [0.55, 0.2, 0.95, 0.8] },
      { 'cat face': [0.55, 0.27, 0.93, 0.77], pizza: [0.1, 0.3, 0.4, 0.7] },
    ]);
    assert.match(scene2.parameters, /a pizza and a cat face/);
    assert.match(scene2.parameters, /Subject boxes: "cat face: 0\.55 0\.27 0\.93 0\.77 \(user\); pizza: 0\.1 0\.3 0\.4 0\.7 \(user\)"/);
    assert.match(meta(files[0]).parameters, /^a cat face\n/);
    await s.page.getByRole('button', { name: /^a pizza and a cat face/ }).waitFor();
    await s.screenshot('studio-story-done');
  });

  test('overlapping boxes are refused with the reason, and nothing is queued', async () => {
    await draw(1, 'pizza', [0.2, 0.2], [0.6, 0.8]);
    await s.page.getByRole('button', { name: 'Run story' }).click();
    await s.page.getByRole('alert').getByText(/story scene 1: the boxes of "cat face" .* and "pizza" .* overlap by \d+% of the smaller box; at most 25% is allowed/).waitFor();
    assert.equal(await s.page.locator('.jobs li').count(), 1, 'only the first story is listed');
  });

  test('no script errors or CSP violations on the page', () => {
    assert.deepEqual(s.pageErrors, []);
  });
});
