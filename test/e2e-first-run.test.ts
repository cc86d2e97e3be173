// A first-time user with the REAL engine: open the studio, type a prompt, press Ctrl+Enter without
// touching anything else. The form starts on the default model's own settings and leaves them to the
// engine, so a 64×64 image lands in the gallery, recorded with the settings the engine used.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import { DEFAULT_MODEL as DEFAULT_MODEL_NAME } from '../pipelines/families/registry.ts';
import { embeddedModels } from '../pipelines/families/scan.ts';
import { readImageMetadata } from '../pipelines/metadata/read-metadata.ts';
import { browserSkipReason, openRealStudio, type RealStudio } from './e2e-real-studio.ts';
import { studioPerSuite } from './e2e-harness.ts';

const skip = browserSkipReason();

describe('first run with the real engine', { skip }, () => {
  let s: RealStudio;
  studioPerSuite(openRealStudio, (opened) => (s = opened));

  test('type a prompt, Ctrl+Enter: a 64×64 image of the default model lands in the gallery', async () => {
    const prompt = s.page.getByLabel('Prompt', { exact: true });
    await prompt.fill('a smiling cat face');
    await prompt.press('Control+Enter');

    const thumb = s.page.getByRole('button', { name: /^a smiling cat face/ });
    await thumb.waitFor({ timeout: 90_000 });
    const size = await thumb.locator('img').evaluate((el) => {
      const img = el as unknown as { decode(): Promise<void>; naturalWidth: number; naturalHeight: number };
      return img.decode().then(() => [img.naturalWidth, img.naturalHeight]);
    });
    assert.deepEqual(size, [64, 64]);
    assert.equal((await s.page.getByRole('alert').textContent())?.trim(), '', 'no error notice');
    await s.page.locator('.jobs li.done').waitFor();

    const [file] = readdirSync(s.outputsDir).filter((f) => f.endsWith('.png'));
    const png = readFileSync(join(s.outputsDir, file));
    const { width, height } = await sharp(png).metadata();
    assert.deepEqual([width, height], [64, 64]);
    // The request left the settings to the model; the PNG records what the engine used: its defaults.
    const { steps, cfg, sampler } = embeddedModels().find((m) => m.name === DEFAULT_MODEL_NAME)!.defaults;
    const request = readImageMetadata(png, file).studio?.request as Record<string, unknown>;
    assert.equal(request.model, undefined);
    assert.deepEqual([request.steps, request.cfg, request.sampler], [steps, cfg, sampler]);
    assert.deepEqual(s.pageErrors, []);
  });

  test("unknown words and the UI's own example negative: the image is drawn and a notice says what was read", async () => {
    await s.page.getByLabel('Negative prompt', { exact: true }).fill('blurry, [lowres]');
    const prompt = s.page.getByLabel('Prompt', { exact: true });
    await prompt.fill('a puppy with a blorptastic hat');
    await prompt.press('Control+Enter');
    const notice = s.page.getByRole('status').getByText(/does not know "blorptastic" and leaves it out/);
    await notice.waitFor({ timeout: 90_000 });
    assert.match((await notice.textContent()) ?? '', /Negative prompt "blurry, \[lowres\]": .* knows none of its words \("blurry", "lowres"\), so it is left out/);
    await s.page.getByRole('button', { name: /^a puppy with a blorptastic hat/ }).waitFor({ timeout: 90_000 });
    assert.equal((await s.page.getByRole('alert').textContent())?.trim(), '', 'no error notice');
  });
});
