/// <reference lib="dom" />
// ControlNet in the UI on the REAL engine: the models folder holds the tiny SD 1.5-layout pipeline and a
// ControlNet folder (test/fixtures/controlnet); in Chromium the user adds a ControlNet unit, picks a control
// image from disk, switches the preprocessor to canny (the preview shows the edge map the engine makes),
// sets weight, start/end and guess mode, and generates. The image that comes back records the request the
// engine ran: the unit as set, with the uploaded control image. Screenshot: studio-controlnet.
import assert from 'node:assert/strict';
import { cpSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import { studioPerSuite } from './e2e-harness.ts';
import { browserSkipReason, openRealStudio, type RealStudio } from './e2e-real-studio.ts';
import { skipWithoutFixtures } from './fixtures.ts';
import { CONTROLNET_FIXTURES, miniPipelineDir } from './mini-sd.ts';
import { readImageMetadata } from '../pipelines/metadata/read-metadata.ts';

const skip = browserSkipReason() ?? (skipWithoutFixtures || undefined);
const EDGES = join(CONTROLNET_FIXTURES, 'control-edges.png');

describe('ControlNet units in Chromium, on the real engine', { skip }, () => {
  let s: RealStudio;
  studioPerSuite(openRealStudio, (opened) => (s = opened));
  const field = (label: string) => s.page.getByLabel(label, { exact: true });

  test('add a unit, pick a control image, canny preview, weight/start/end/guess mode: the engine runs them and an image comes back', async () => {
    const model = join(s.modelsDir, 'sd15-mini');
    cpSync(miniPipelineDir(), model, { recursive: true, dereference: true });
    const controlNet = join(s.modelsDir, 'ControlNet', 'edges-mini');
    cpSync(join(CONTROLNET_FIXTURES, 'controlnet-mini'), controlNet, { recursive: true });
    await s.page.reload();

    await field('Model').selectOption(model);
    await field('Prompt').fill('a red apple on a wooden table');
    await field('Steps').fill('3');
    await field('Width').fill('128');
    await field('Height').fill('128');

    await s.page.getByRole('button', { name: 'Add ControlNet' }).click();
    assert.equal(await field('ControlNet 1 model').inputValue(), controlNet, 'the library\'s ControlNet folder is offered and chosen');
    await field('ControlNet 1 control image').setInputFiles(EDGES);
    const asIs = s.page.getByRole('img', { name: 'ControlNet 1 control map (none)' });
    await asIs.waitFor();
    await field('ControlNet 1 preprocessor').selectOption('canny');
    const edges = s.page.getByRole('img', { name: 'ControlNet 1 control map (canny)' });
    await edges.waitFor();
    // The preview is the engine's canny map: only black and white.
    const png = Buffer.from((await edges.getAttribute('src'))!.replace(/^data:image\/png;base64,/, ''), 'base64');
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    const { width, height } = await sharp(EDGES).metadata();
    assert.deepEqual([info.width, info.height], [width, height]);
    assert.ok(data.every((v) => v === 0 || v === 255), 'a canny map is binary');
    assert.ok(data.some((v) => v === 255) && data.some((v) => v === 0), 'with edges found');

    await field('ControlNet 1 weight').fill('0.8');
    await field('ControlNet 1 start').fill('0.1');
    await field('ControlNet 1 end').fill('0.9');
    await field('ControlNet 1 guess mode').check();
    await s.screenshot('studio-controlnet', { docs: s.page.getByRole('group', { name: 'ControlNet 1' }) });

    await s.page.getByRole('button', { name: /^Generate/ }).click();
    await s.page.locator('.jobs li.done').first().waitFor({ timeout: 180_000 });
    const [made] = readdirSync(s.outputsDir).filter((f) => f.endsWith('.png'));
    assert.ok(made, 'an image came back into the outputs folder');
    const meta = readImageMetadata(readFileSync(join(s.outputsDir, made)), made);
    const request = meta.studio!.request;
    assert.equal(request.model, model);
    const [upload] = readdirSync(join(s.outputsDir, 'uploads'));
    assert.deepEqual(request.controlNets, [{ model: controlNet, image: join(s.outputsDir, 'uploads', upload), weight: 0.8, start: 0.1, end: 0.9, preprocess: 'canny', guessMode: true }]);
    assert.deepEqual(readFileSync(join(s.outputsDir, 'uploads', upload)), readFileSync(EDGES), 'the uploaded control image is the picked file');
    const image = await sharp(join(s.outputsDir, made)).metadata();
    assert.deepEqual([image.width, image.height], [128, 128]);
    assert.match(meta.text.get('parameters') ?? '', /ControlNet 0: "Module: canny, Model: edges-mini, Weight: 0\.8,.*Guidance Start: 0\.1, Guidance End: 0\.9/);
    assert.deepEqual(s.pageErrors, []);
  });
});
