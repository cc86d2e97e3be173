/// <reference lib="dom" />
// The hi-res panel in Chromium on the real engine: a small LinFusion-style ladder (128×64 → 512×256, two ×2
// stages) on the ladder's tiny SD 1.x model shows its stage timeline; then an 8192×4096 PNG made here with sharp
// opens in the tiled viewer, which requests only the tiles it shows (counted, per zoom level) and never the file.
// Screenshots go to test-artifacts/ (and docs/screenshots/ with STUDIO_UPDATE_SCREENSHOTS=1).
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import { studioPerSuite } from './e2e-harness.ts';
import { browserSkipReason, openRealStudio, type RealStudio } from './e2e-real-studio.ts';
import { skipWithoutFixtures } from './fixtures.ts';
import { HIRES, writeLadderModel } from './hires-model.ts';

const skip = browserSkipReason() ?? skipWithoutFixtures;
const BIG = { name: 'big-8192x4096.png', width: 8192, height: 4096 };

describe('hi-res panel in Chromium', { skip }, () => {
  let s: RealStudio;
  studioPerSuite(openRealStudio, (opened) => (s = opened));
  const field = (label: string) => s.page.getByLabel(label, { exact: true });

  test('a ladder 128×64 → 512×256 shows its stages: size, strength, steps and time of each', async () => {
    writeLadderModel(join(s.modelsDir, 'ladder-tiny'), 'copy');
    await s.page.reload();
    await field('Model').selectOption({ label: 'ladder-tiny (sd1)' });
    await field('Prompt').fill('a red apple');
    await field('Steps').fill('4');
    await field('Width').fill('128');
    await field('Height').fill('64');
    await field('Final size').selectOption({ label: '×4: 512×256' });
    await field('Strength per stage').fill('0.5, 0.75');
    await field('GPU memory (GiB)').fill('4096');
    await s.page.getByText('2 stages, each ×2 then img2img').waitFor();
    await s.page.getByRole('button', { name: /^Generate/ }).click();
    await s.page.locator('.jobs li.done').first().waitFor({ timeout: 120_000 });

    const rows = s.page.getByRole('list', { name: 'Hi-res stages' }).locator('li');
    await rows.nth(2).locator('.time').filter({ hasText: / s$/ }).waitFor();
    const texts = await rows.allInnerTexts();
    assert.equal(texts.length, 3);
    const expected = [['128×64', 'text to image', 'denoise 4/4'], ['256×128', 'strength 0.5', 'denoise 2/2'], ['512×256', 'strength 0.75', 'denoise 3/3']];
    texts.forEach((t, i) => {
      for (const part of [`Stage ${i + 1} of 3`, ...expected[i]]) assert.ok(t.includes(part), `stage ${i + 1} shows "${part}": ${JSON.stringify(t)}`);
      assert.match(t, /\d+\.\d s$/, `stage ${i + 1} shows its time`);
    });
    const done = await rows.locator('progress').evaluateAll((bars) => bars.map((b) => (b as HTMLProgressElement).value === (b as HTMLProgressElement).max));
    assert.deepEqual(done, [true, true, true]);
    const gallery = await s.server.studio.gallery({ limit: 10 });
    assert.deepEqual([gallery.images[0].width, gallery.images[0].height], [512, 256], 'the result is the last stage');
    const hires = (gallery.images[0].request as { hires?: { memoryGiB?: number } } | undefined)?.hires;
    assert.equal(hires?.memoryGiB, 4096, 'the memory budget, above the host\'s, went with the request and ran');
    await s.screenshot('studio-hires-ladder', { docs: s.page.locator('section[aria-labelledby="hires-title"]') });
  });

  test("recalling the ladder's image brings the hi-res panel back: final size, strengths, memory", async () => {
    const values = async () => Object.fromEntries(await Promise.all(['Final size', 'Width', 'Height', 'Strength per stage', 'GPU memory (GiB)'].map(async (l) => [l, await field(l).inputValue()])));
    await field('Strength per stage').fill('0.9, 0.9');
    await field('GPU memory (GiB)').fill('');
    await field('Final size').selectOption({ label: 'off' });
    await field('Width').fill('256');
    await s.page.getByRole('button', { name: /^a red apple/ }).first().click();
    await s.page.getByLabel(/^Parameters of /).getByRole('button', { name: 'Recall these settings' }).click();
    await field('Strength per stage').waitFor();
    assert.deepEqual(await values(), { 'Final size': '4', Width: '128', Height: '64', 'Strength per stage': '0.5, 0.75', 'GPU memory (GiB)': '4096' });
  });

  test("A1111's hires fix from its panel: drawn at 64×64, finished at 128×128, recalled; off while the ladder is on", async () => {
    const fix = s.page.getByLabel('Upscale and refine');
    assert.equal(await fix.isDisabled(), true, 'the ladder (×4) is still on from the recall');
    await field('Final size').selectOption({ label: 'off' });
    await fix.check();
    await field('Prompt').fill('a green pear');
    await field('Steps').fill('3');
    await field('Width').fill('64');
    await field('Height').fill('64');
    await field('Hires steps').fill('2');
    await field('Denoising strength').fill('0.5');
    await s.page.getByText('Drawn at 64×64, finished at 128×128.').waitFor();
    await s.page.getByRole('button', { name: /^Generate/ }).click();
    const job = s.page.locator('.jobs li:is(.done, .failed)', { hasText: 'a green pear' });
    await job.waitFor({ timeout: 120_000 });
    assert.equal(await job.evaluate((li) => li.classList.contains('done')), true, await job.innerText());
    const image = (await s.server.studio.gallery({ limit: 10 })).images[0];
    assert.deepEqual([image.width, image.height], [128, 128]);
    assert.deepEqual((image.request as { hiresFix?: unknown }).hiresFix, { scale: 2, denoise: 0.5, upscaler: 'latent', steps: 2 });

    await fix.uncheck();
    await s.page.getByRole('button', { name: /^a green pear/ }).first().click();
    await s.page.getByLabel(/^Parameters of /).getByRole('button', { name: 'Recall these settings' }).click();
    await field('Hires steps').waitFor();
    assert.equal(await fix.isChecked(), true);
    const values = await Promise.all(['Upscale by', 'Upscaler', 'Hires steps', 'Denoising strength', 'Width'].map((l) => field(l).inputValue()));
    assert.deepEqual(values, ['2', 'latent', '2', '0.5', '64']);
  });

  test('an 8192×4096 PNG: the viewer requests only the visible tiles of the zoom level, never the whole file', async () => {
    // A smooth pattern (a fast PNG) that differs from tile to tile.
    const { width, height } = BIG;
    const px = Buffer.alloc(width * height * 3);
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) px.set([(x >> 5) & 255, (y >> 4) & 255, ((x >> 9) * 40 + (y >> 9) * 20) & 255], (y * width + x) * 3);
    await sharp(px, { raw: { width, height, channels: 3 } }).png({ compressionLevel: 1 }).toFile(join(s.outputsDir, BIG.name));

    const requested: string[] = [];
    s.page.on('request', (r) => requested.push(new URL(r.url()).pathname));
    await s.page.reload();
    const status = s.page.locator('.viewer .where');
    await status.filter({ hasText: /tiles$/ }).waitFor({ timeout: 60_000 });
    await allTilesLoaded();

    const tilesOf = (level: number) => requested.filter((p) => p.startsWith(`/tiles/${BIG.name}/${level}/`));
    const shown = async () => {
      const m = /level (\d+) · (\d+) tiles/.exec(await status.innerText());
      return { level: Number(m![1]), tiles: Number(m![2]) };
    };
    assert.equal(requested.filter((p) => p.startsWith(`/outputs/${BIG.name}`)).length, 0, 'the 8192×4096 file itself is never loaded');
    assert.equal(requested.filter((p) => p === `/tiles/${BIG.name}/thumb.png`).length >= 1, true, 'the gallery shows its one-tile thumbnail');

    // Fitted: the whole image at the coarsest level with a pixel per screen pixel, every tile of it requested once.
    const box = (await s.page.getByRole('img', { name: /Zoomable view/ }).boundingBox())!;
    const fitScale = Math.min(box.width / width, box.height / height);
    const fitted = await shown();
    assert.equal(fitted.level, 13 - Math.floor(Math.log2(1 / fitScale)), `levels 0–13; fitted at ${fitScale.toFixed(4)} screen px per image px`);
    const k = 2 ** (13 - fitted.level);
    assert.equal(fitted.tiles, Math.ceil(width / k / 256) * Math.ceil(height / k / 256));
    assert.equal(tilesOf(fitted.level).length, fitted.tiles);
    assert.equal(new Set(tilesOf(fitted.level)).size, fitted.tiles);
    await s.screenshot('studio-hires-viewer', { docs: s.page.locator('section[aria-labelledby="hires-title"]') });

    // Zoomed in 16× in steps (past one image pixel per screen pixel, the full-size level's 32 × 16 = 512 tiles):
    // every tile requested is one that was shown, once.
    const seen = new Set(tilesOf(fitted.level));
    for (let i = 0; i < 4; i++) {
      await s.page.getByRole('button', { name: 'Zoom in' }).click();
      await allTilesLoaded();
      for (const src of await s.page.locator('.viewport img').evaluateAll((imgs) => imgs.map((img) => new URL((img as HTMLImageElement).src).pathname))) seen.add(src);
    }
    const zoomed = await shown();
    assert.equal(zoomed.level, 13);
    const mostVisible = (Math.ceil(box.width / 256) + 1) * (Math.ceil(box.height / 256) + 1);
    assert.ok(zoomed.tiles <= mostVisible, `${zoomed.tiles} tiles for a ${box.width}×${box.height} viewport`);
    const tileRequests = requested.filter((p) => /^\/tiles\/[^/]+\/\d+\//.test(p));
    assert.deepEqual(new Set(tileRequests), seen, 'the tiles requested are the tiles shown');
    assert.equal(tileRequests.length, seen.size, 'each once');
    assert.ok(seen.size < 100, `${seen.size} tiles requested of the pyramid's 700`);
    console.log(`viewer: fitted at level ${fitted.level} (${fitted.tiles} tiles), zoomed to level 13 (${zoomed.tiles} tiles shown); ${seen.size} tile requests in all, 0 for the file`);
    assert.equal(requested.filter((p) => p.startsWith(`/outputs/${BIG.name}`)).length, 0);
    // The page stays responsive: a click is answered with the next view.
    await s.page.getByRole('button', { name: 'Fit' }).click();
    await status.filter({ hasText: `level ${fitted.level} ` }).waitFor();
    assert.deepEqual(s.pageErrors, []);
  });

  /** Waits until every tile <img> of the viewer has loaded (polled: the page's CSP forbids waitForFunction's eval). */
  async function allTilesLoaded(): Promise<void> {
    const loaded = () => s.page.locator('.viewport img').evaluateAll((imgs) => imgs.length > 0 && imgs.every((i) => (i as HTMLImageElement).complete && (i as HTMLImageElement).naturalWidth > 0));
    while (!(await loaded())) await s.page.waitForTimeout(50);
  }

  test("a VAE from the library replaces the model's own: the request names it, and recall brings it back", async () => {
    const vaeFile = join(s.modelsDir, 'VAE', 'ladder-vae.safetensors');
    mkdirSync(dirname(vaeFile), { recursive: true });
    copyFileSync(join(HIRES, 'vae', 'diffusion_pytorch_model.safetensors'), vaeFile);
    await s.page.reload(); // the library is read again
    await field('Model').selectOption({ label: 'ladder-tiny (sd1)' });
    const vae = field('VAE');
    assert.deepEqual(await vae.locator('option').allInnerTexts(), ["The model's own", 'ladder-vae']);
    await vae.selectOption({ index: 1 });
    await field('Prompt').fill('a blue plum');
    await field('Steps').fill('2');
    await field('Width').fill('64');
    await field('Height').fill('64');
    await s.page.getByRole('button', { name: /^Generate/ }).click();
    const job = s.page.locator('.jobs li:is(.done, .failed)', { hasText: 'a blue plum' });
    await job.waitFor({ timeout: 120_000 });
    assert.equal(await job.evaluate((li) => li.classList.contains('done')), true, await job.innerText());
    const image = (await s.server.studio.gallery({ limit: 10 })).images[0];
    assert.equal((image.request as { vae?: string }).vae, vaeFile);

    await vae.selectOption({ index: 0 });
    await s.page.getByRole('button', { name: /^a blue plum/ }).first().click();
    await s.page.getByLabel(/^Parameters of /).getByRole('button', { name: 'Recall these settings' }).click();
    await s.page.waitForFunction(() => (document.querySelector('#vae') as HTMLSelectElement | null)?.selectedIndex === 1);
    assert.equal(await vae.inputValue(), vaeFile);
  });
});
