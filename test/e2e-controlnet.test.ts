/// <reference lib="dom" />
// ControlNet in the UI on the REAL engine: the models folder holds the tiny SD 1.5-layout pipeline and a
// ControlNet folder (test/fixtures/controlnet); in Chromium the user adds a ControlNet unit, picks a control
// image from disk, switches the preprocessor to canny (the preview shows the edge map the engine makes),
// sets weight, start/end and guess mode, and generates. The image that comes back records the request the
// engine ran: the unit as set, with the uploaded control image. Screenshot: studio-controlnet.
// The image prompt (IP-Adapter) panel likewise, on sd15-tiny with the tiny adapter and CLIP image encoder of
// test/fixtures/ip-adapter: off for the shipped models, its request fields as the schema has them, recalled from
// the image, and left off with a notice when the library no longer has the adapter. Screenshot: studio-ip-adapter.
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import { studioPerSuite } from './e2e-harness.ts';
import { browserSkipReason, openRealStudio, type RealStudio } from './e2e-real-studio.ts';
import { fixture, skipWithoutFixtures } from './fixtures.ts';
import { IP_FIXTURES } from './ip-adapter-helpers.ts';
import { CONTROLNET_FIXTURES, miniPipelineDir } from './mini-sd.ts';
import { readImageMetadata } from '../pipelines/metadata/read-metadata.ts';

const skip = browserSkipReason() ?? (skipWithoutFixtures || undefined);
const EDGES = join(CONTROLNET_FIXTURES, 'control-edges.png');
const IP_IMAGE = join(IP_FIXTURES, 'ip-image.png');

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

    // Recall brings the unit back as it ran: ControlNet, control image (its map drawn again), preprocessor, numbers.
    await s.page.getByRole('button', { name: 'Remove ControlNet 1' }).click();
    await s.page.getByRole('button', { name: /^a red apple on a wooden table/ }).first().click();
    await s.page.getByLabel(/^Parameters of /).getByRole('button', { name: 'Recall these settings' }).click();
    await s.page.getByRole('img', { name: 'ControlNet 1 control map (canny)' }).waitFor();
    assert.deepEqual(
      [await field('ControlNet 1 model').inputValue(), await field('ControlNet 1 preprocessor').inputValue(), await field('ControlNet 1 weight').inputValue(),
        await field('ControlNet 1 start').inputValue(), await field('ControlNet 1 end').inputValue(), await field('ControlNet 1 guess mode').isChecked()],
      [controlNet, 'canny', '0.8', '0.1', '0.9', true],
    );
    await s.page.getByRole('group', { name: 'ControlNet 1' }).getByText(`${upload} (change…)`).waitFor();
    assert.equal(await s.page.getByRole('group', { name: 'ControlNet 2' }).count(), 0, 'one unit, as the image had');
    assert.deepEqual(s.pageErrors, []);
  });

  test('image prompt: off for shipped models; adapter, encoder, reference image and scale reach the engine; recalled; a missing adapter is named', async () => {
    const model = join(s.modelsDir, 'sd15-tiny');
    cpSync(fixture('sd15-tiny'), model, { recursive: true, dereference: true });
    const adapter = join(s.modelsDir, 'ipadapter', 'ip-adapter_sd15.safetensors');
    mkdirSync(join(s.modelsDir, 'ipadapter'));
    cpSync(join(IP_FIXTURES, 'ip-adapter_sd15.safetensors'), adapter);
    cpSync(join(IP_FIXTURES, 'image-encoder'), join(s.modelsDir, 'clip_vision', 'vit-tiny'), { recursive: true });
    const encoder = join(s.modelsDir, 'clip_vision', 'vit-tiny', 'model.safetensors');
    await s.page.reload(); // the library is read again, and the first test's ControlNet unit is gone
    const panel = s.page.getByRole('group', { name: 'Image prompt (IP-Adapter)' });
    const toggle = field('Steer with a reference image');

    await field('Model').selectOption('');
    await panel.getByText(/shipped with the studio, takes no image prompt/).waitFor();
    assert.equal(await toggle.isDisabled(), true, 'the default (shipped) model takes no image prompt');

    await field('Model').selectOption(model);
    await toggle.check();
    assert.equal(await field('IP-Adapter').inputValue(), adapter, "the library's adapter is offered and chosen");
    assert.equal(await field('Scale').inputValue(), '1', "the engine's default scale");
    await field('Image encoder').selectOption(encoder);
    await field('Reference image').setInputFiles(IP_IMAGE);
    await s.page.getByRole('img', { name: 'Reference image ip-image.png' }).waitFor();
    await field('Scale').fill('0.6');
    await field('Prompt').fill('an apple, image prompted');
    await field('Steps').fill('3');
    await field('Width').fill('64');
    await field('Height').fill('64');
    await s.screenshot('studio-ip-adapter', { docs: panel });
    await s.page.getByRole('button', { name: /^Generate/ }).click();
    const job = s.page.locator('.jobs li:is(.done, .failed)', { hasText: 'an apple, image prompted' });
    await job.waitFor({ timeout: 180_000 });
    assert.equal(await job.evaluate((li) => li.classList.contains('done')), true, await job.innerText());

    const made = (await s.server.studio.gallery({ limit: 10 })).images[0];
    const meta = readImageMetadata(readFileSync(join(s.outputsDir, made.name)), made.name);
    const uploads = join(s.outputsDir, 'uploads');
    const upload = readdirSync(uploads).find((f) => readFileSync(join(uploads, f)).equals(readFileSync(IP_IMAGE)));
    assert.ok(upload, 'the picked reference image was uploaded into the outputs folder');
    assert.equal(meta.studio!.request.model, model);
    assert.deepEqual(meta.studio!.request.ipAdapter, { model: adapter, image: join(uploads, upload), imageEncoder: encoder, scale: 0.6 });
    assert.equal(meta.studio!.request.controlNets, undefined);
    assert.match(meta.text.get('parameters') ?? '', /ControlNet 0: "Module: ip-adapter_clip_sd15, Model: ip-adapter_sd15, Weight: 0\.6,/);

    const recallIt = async () => {
      await s.page.getByRole('button', { name: /^an apple, image prompted/ }).first().click();
      await s.page.getByLabel(/^Parameters of /).getByRole('button', { name: 'Recall these settings' }).click();
    };
    await field('Scale').fill('1.5');
    await field('Image encoder').selectOption('');
    await toggle.uncheck();
    await recallIt();
    await field('IP-Adapter').waitFor();
    assert.equal(await toggle.isChecked(), true, 'recall turns the image prompt back on');
    assert.deepEqual([await field('IP-Adapter').inputValue(), await field('Image encoder').inputValue(), await field('Scale').inputValue()], [adapter, encoder, '0.6']);
    await panel.getByText(`Reference: ${upload}.`).waitFor();

    rmSync(adapter);
    await s.page.reload();
    await recallIt();
    await s.page.getByRole('status').getByText('IP-Adapter "ip-adapter_sd15" is not in the library; the image prompt is left off', { exact: false }).waitFor();
    assert.equal(await toggle.isChecked(), false, 'an adapter the library lacks leaves the image prompt off');
    assert.deepEqual(s.pageErrors, []);
  });
});
