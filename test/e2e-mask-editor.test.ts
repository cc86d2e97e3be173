/// <reference lib="dom" />
// The mask editor in Chromium: open a gallery image for inpainting, paint a stroke with the mouse, and
// Generate: the engine receives the image, and a mask file that is white exactly where the stroke went;
// invert, clear and the outpaint margins change what is sent. Then, on the real engine, previews arrive
// while a generation runs (the emoji model's own decoder draws them at 64×64). Screenshots of both go to
// test-artifacts/ (and docs/screenshots/ with STUDIO_UPDATE_SCREENSHOTS=1). The outpaint handles are dragged
// with the mouse and the margins the engine receives are checked.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import { browserSkipReason, openStudio, studioPerSuite, type Studio } from './e2e-harness.ts';
import { chooseEmbedded, DOCS_SCREENSHOTS, openRealStudio, type RealStudio } from './e2e-real-studio.ts';

const skip = browserSkipReason();
const UPDATE_DOCS = process.env.STUDIO_UPDATE_SCREENSHOTS === '1';

describe('mask editor in Chromium', { skip }, () => {
  let s: Studio;
  studioPerSuite(openStudio, (opened) => (s = opened));
  const field = (label: string) => s.page.getByLabel(label, { exact: true });

  async function generateAndWait(count: number): Promise<Record<string, unknown>> {
    await s.page.getByRole('button', { name: /^Generate/ }).click();
    // Generous: on a shared machine the engine host's start (with the first job) can take a while.
    await s.page.locator('.jobs li.done').nth(count - 1).waitFor({ timeout: 60_000 });
    const requests = s.requests();
    assert.equal(requests.length, count);
    return requests[count - 1];
  }

  /** The mask file a request points at, as 0/255 grey values of its 64×64 pixels. */
  async function maskOf(request: Record<string, unknown>): Promise<Uint8Array> {
    const mask = String(request.mask);
    assert.ok(mask.startsWith(join(s.outputsDir, 'masks')), `the mask lies in the outputs folder's masks/: ${mask}`);
    const { data, info } = await sharp(mask).greyscale().raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height], [64, 64]);
    return new Uint8Array(data);
  }

  test('paint a stroke with the mouse: the engine gets the image and a mask white exactly under the stroke', async () => {
    await field('Prompt').fill('a red apple on a table');
    const first = await generateAndWait(1);
    assert.equal(first.initImage, undefined);
    const thumb = s.page.getByRole('button', { name: /^a red apple on a table/ });
    await thumb.click();
    await s.page.getByRole('button', { name: 'Inpaint / outpaint this image' }).click();
    const canvas = s.page.getByLabel('Mask: paint the area to redraw');
    // The canvas takes the image's size once it has loaded (a string: this file compiles without DOM types).
    await s.page.waitForFunction(`document.querySelector('canvas[aria-label^="Mask"]')?.width === 64`);

    await s.page.getByLabel('Brush size').fill('8');
    const box = (await canvas.boundingBox())!;
    const px = (x: number, y: number) => ({ x: box.x + (x / 64) * box.width, y: box.y + (y / 64) * box.height });
    // A horizontal stroke along image row 20, from x = 12 to x = 52.
    await s.page.mouse.move(px(12, 20).x, px(12, 20).y);
    await s.page.mouse.down();
    for (let x = 12; x <= 52; x += 4) await s.page.mouse.move(px(x, 20).x, px(x, 20).y);
    await s.page.mouse.up();
    await s.page.getByText('The painted area is redrawn').waitFor();
    await s.screenshot('studio-mask-editor');
    if (UPDATE_DOCS) await s.page.getByRole('region', { name: 'Inpaint / outpaint' }).screenshot({ path: join(DOCS_SCREENSHOTS, 'studio-mask-editor.png') });

    const [painted] = readdirSync(s.outputsDir).filter((f) => f.endsWith('.png'));
    const request = await generateAndWait(2);
    assert.equal(request.initImage, join(s.outputsDir, painted));
    assert.equal(request.strength, 0.75);
    assert.equal(request.maskBlur, 4);
    const mask = await maskOf(request);
    const at = (x: number, y: number) => mask[y * 64 + x];
    for (const x of [14, 30, 50]) assert.equal(at(x, 20), 255, `(${x}, 20) lies under the stroke`);
    for (const [x, y] of [[30, 8], [30, 32], [4, 20], [60, 20], [5, 60]]) assert.equal(at(x, y), 0, `(${x}, ${y}) is far from the stroke`);
  });

  test('invert swaps painted and kept; clear sends no mask (img2img); outpaint margins replace the mask', async () => {
    await s.page.getByRole('button', { name: 'Invert mask' }).click();
    const inverted = await maskOf(await generateAndWait(3));
    assert.equal(inverted[20 * 64 + 30], 0);
    assert.equal(inverted[60 * 64 + 5], 255);

    await s.page.getByRole('button', { name: 'Clear mask' }).click();
    await s.page.getByText('Paint the area to redraw').waitFor();
    const cleared = await generateAndWait(4);
    assert.equal(cleared.mask, undefined);
    assert.ok(cleared.initImage, 'still drawn over the image');

    await field('Outpaint left').fill('32');
    await field('Outpaint bottom').fill('16');
    await s.page.getByText('Outpainting: the new border is generated').waitFor();
    const outpaint = await generateAndWait(5);
    assert.deepEqual(outpaint.outpaint, { left: 32, right: 0, top: 0, bottom: 16 });
    assert.equal(outpaint.mask, undefined);
    assert.deepEqual(s.pageErrors, []);
  });
  test('drag the outpaint handles with the mouse: the margins follow in image pixels (steps of 8) and the engine gets them', async () => {
    for (const side of ['left', 'right', 'top', 'bottom']) await field(`Outpaint ${side}`).fill('0');
    const canvas = s.page.getByLabel('Mask: paint the area to redraw');
    const scale = (await canvas.boundingBox())!.width / 64; // screen pixels per image pixel
    async function drag(side: string, dx: number, dy: number): Promise<void> {
      const box = (await s.page.getByRole('slider', { name: `Outpaint ${side} handle` }).boundingBox())!;
      const from = { x: box.x + box.width / 2, y: box.y + box.height / 2 };
      await s.page.mouse.move(from.x, from.y);
      await s.page.mouse.down();
      for (let k = 1; k <= 4; k++) await s.page.mouse.move(from.x + (dx * scale * k) / 4, from.y + (dy * scale * k) / 4);
      await s.page.mouse.up();
    }
    await drag('left', -17, 0); // 17 image pixels out: 16 (steps of 8)
    await drag('bottom', 0, 23); // 24
    await drag('right', 40, 0);
    await drag('right', -100, 0); // back past the edge: 0
    await drag('top', 0, -30); // 32
    await drag('top', 0, 12); // 32 - 12 = 20 → 24 (nearest step of 8)
    const margins = async () => Object.fromEntries(await Promise.all(['left', 'right', 'top', 'bottom'].map(async (side) => [side, Number(await field(`Outpaint ${side}`).inputValue())])));
    assert.deepEqual(await margins(), { left: 16, right: 0, top: 24, bottom: 24 }, 'the number fields show the dragged margins');
    assert.equal(await s.page.getByRole('slider', { name: 'Outpaint left handle' }).getAttribute('aria-valuenow'), '16');
    await s.page.getByRole('slider', { name: 'Outpaint left handle' }).press('ArrowLeft'); // keyboard: 8 more to the left
    await s.page.getByText('Outpainting: the new border is generated').waitFor();
    await s.screenshot('studio-outpaint-handles');
    if (UPDATE_DOCS) await s.page.getByRole('region', { name: 'Inpaint / outpaint' }).screenshot({ path: join(DOCS_SCREENSHOTS, 'studio-outpaint-handles.png') });
    const request = await generateAndWait(6);
    assert.deepEqual(request.outpaint, { left: 24, right: 0, top: 24, bottom: 24 });
    assert.equal(request.mask, undefined);
    assert.deepEqual(s.pageErrors, []);
  });
});

describe('live previews on the real engine', { skip }, () => {
  let s: RealStudio;
  studioPerSuite(openRealStudio, (opened) => (s = opened));

  test('emoji-lit, 40 steps: previews arrive during the run, drawn by the model’s own decoder at 64×64', async () => {
    await chooseEmbedded(s.page, 'emoji-lit');
    await s.page.getByLabel('Prompt', { exact: true }).fill('a smiling cat face');
    await s.page.getByLabel('Steps', { exact: true }).fill('40');
    await s.page.getByRole('button', { name: /^Generate/ }).click();
    const preview = s.page.getByLabel('Preview of the image being generated');
    await preview.waitFor();
    const size = await preview.evaluate((el) => [(el as unknown as { width: number }).width, (el as unknown as { height: number }).height]);
    assert.deepEqual(size, [64, 64], 'a 16×16 latent drawn through the decoder, not the latents themselves');
    await s.screenshot('studio-previews', { docs: s.page.locator('.stage').first() });
    await s.page.locator('.jobs li.done').first().waitFor({ timeout: 120_000 });
    assert.deepEqual(s.pageErrors, []);
  });
});
