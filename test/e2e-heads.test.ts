// Head selection end to end with the REAL engine (the embedded emoji-lit, 6 layers × 2 heads): effect
// thumbnails drawn by the engine for the prompt and seed, heads picked in the grid changing a real
// generation, a preset saved and loaded back (and one for another architecture refused with the
// schema's message), and a one-round HeadHunter with the user's picks saved as a preset.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { inspectHeads } from '../pipelines/heads/inspect.ts';
import { makeHeadPreset } from '../pipelines/heads/presets.ts';
import { readImageMetadata } from '../pipelines/metadata/read-metadata.ts';
import { browserSkipReason, chooseEmbedded, openRealStudio, type RealStudio } from './e2e-real-studio.ts';

const skip = browserSkipReason();

/** What page.evaluate needs of a canvas (this file compiles against Node's types, without the DOM). */
interface CanvasLike {
  width: number;
  height: number;
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> } };
}

describe('head selection with the real emoji-lit model', { skip }, () => {
  let s: RealStudio;
  const presetsDir = () => join(s.modelsDir, 'presets', 'heads');
  before(async () => {
    s = await openRealStudio();
  });
  after(async () => {
    await s?.close();
  });

  const field = (label: string) => s.page.getByLabel(label, { exact: true });
  const cell = (layer: number, head: number) => s.page.getByRole('button', { name: new RegExp(`^layer ${layer} head ${head}(,|$)`) });
  const pngs = () => readdirSync(s.outputsDir).filter((f) => f.endsWith('.png')).sort();
  const seen = new Set<string>();

  async function generateAndWait(): Promise<string> {
    const before = pngs().length;
    await s.page.getByRole('button', { name: /^Generate/ }).click();
    for (let i = 0; i < 600 && pngs().length === before; i++) await s.page.waitForTimeout(100);
    const made = pngs().filter((f) => !seen.has(f));
    made.forEach((f) => seen.add(f));
    assert.equal(made.length, 1, 'one image per generate');
    return made[0];
  }

  test('choosing emoji-lit sets its size and sampler, and "Show effects" fills the 6 × 2 grid with thumbnails', async () => {
    await chooseEmbedded(s.page, 'emoji-lit');
    assert.equal(await field('Width').inputValue(), '64');
    assert.equal(await field('Sampler').inputValue(), 'flow_euler');
    await cell(5, 1).waitFor();
    assert.equal(await s.page.locator('button.cell').count(), 12);

    await field('Prompt').fill('a smiling cat face');
    await s.page.getByRole('radio', { name: 'Fixed' }).check();
    await field('Seed').fill('7');
    await s.page.getByRole('button', { name: 'Show effects' }).click();
    await s.page.locator('button.cell canvas').nth(11).waitFor({ timeout: 90_000 });

    // Each thumbnail is the engine's |change| map for its head: not all the same, not all black.
    const sums = await s.page.locator('button.cell canvas').evaluateAll((els) =>
      els.map((el) => {
        const c = el as unknown as CanvasLike;
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let sum = 0;
        for (let i = 0; i < d.length; i += 4) sum += d[i] + d[i + 1] + d[i + 2];
        return sum;
      }),
    );
    assert.equal(sums.length, 12);
    assert.ok(Math.max(...sums) > 0, 'some head changes the preview');
    assert.ok(new Set(sums).size > 6, `the heads' maps differ (${sums.join(', ')})`);
    assert.match((await cell(0, 0).getAttribute('title')) ?? '', /changes the preview by \d+\.\d%/);
    await s.screenshot('studio-head-effects', { docs: true, docsName: 'studio-heads' });
  });

  test('heads selected in the grid are generated with, recorded in the PNG, and change the image', async () => {
    await cell(1, 0).click();
    await cell(3, 1).click();
    assert.equal(await field('PAG scale').inputValue(), '3', 'selecting a head turns PAG on');
    await s.page.getByText('2 selected', { exact: true }).waitFor();
    const withHeads = await generateAndWait();
    const meta = readImageMetadata(readFileSync(join(s.outputsDir, withHeads)), withHeads);
    const request = meta.studio?.request as { model?: string; seed: number; pag?: { scale: number; heads?: unknown[] } };
    assert.equal(request.model, 'emoji-lit');
    assert.equal(request.seed, 7);
    assert.deepEqual(request.pag?.heads, [
      { layer: 1, head: 0, strength: 1 },
      { layer: 3, head: 1, strength: 1 },
    ]);

    await s.page.getByRole('button', { name: 'Clear' }).click();
    await field('PAG scale').fill('0');
    const plain = await generateAndWait();
    const [a, b] = await Promise.all([withHeads, plain].map((f) => sharp(join(s.outputsDir, f)).raw().toBuffer()));
    assert.equal(a.length, 64 * 64 * 3);
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff += Math.abs(a[i] - b[i]);
    assert.ok(diff / a.length > 0.5, `perturbing two heads changes the same seed's image (mean |diff| ${(diff / a.length).toFixed(2)})`);
  });

  test('a preset saved from the selection loads back; a preset for emoji-dit is refused with the reason', async () => {
    await cell(2, 1).click();
    await cell(4, 0).click();
    await s.page.getByLabel('Strength of layer 4 head 0').fill('0.5');
    await s.page.locator('details.presets > summary').click();
    await field('Preset name').fill('two-heads');
    await s.page.getByRole('button', { name: 'Save selection' }).click();
    await s.page.getByText('Saved head preset two-heads', { exact: false }).waitFor();
    const saved = JSON.parse(readFileSync(join(presetsDir(), 'two-heads.json'), 'utf8'));
    assert.equal(saved.architecture.family, 'emoji-lit');
    assert.deepEqual(saved.architecture.heads, [2, 2, 2, 2, 2, 2]);
    assert.deepEqual(saved.heads, [{ layer: 2, head: 1, u: 1 }, { layer: 4, head: 0, u: 0.5 }]);

    await s.page.getByRole('button', { name: 'Clear' }).click();
    await s.page.getByText('0 selected', { exact: true }).waitFor();
    await s.page.getByRole('checkbox', { name: 'two-heads' }).check();
    await s.page.getByRole('button', { name: 'Load', exact: true }).click();
    await s.page.getByText('2 selected', { exact: true }).waitFor();
    assert.equal(await cell(2, 1).getAttribute('aria-pressed'), 'true');
    assert.match((await cell(4, 0).getAttribute('aria-label')) ?? '', /strength 0\.5/);

    // A preset made for emoji-dit (4 heads per layer) in the same folder.
    const dit = inspectHeads('emoji-dit');
    const foreign = makeHeadPreset({ name: 'dit-heads', architecture: dit.architecture, scale: 2, heads: [{ layer: 0, head: 3, u: 1 }] });
    writeFileSync(join(presetsDir(), 'dit-heads.json'), JSON.stringify(foreign));
    const presets = s.page.locator('details.presets');
    await presets.locator('summary').click(); // closing and opening reads the folder again
    await presets.locator('summary').click();
    await presets.locator('li', { hasText: 'dit-heads' }).getByText(/made for another model: it is for a emoji-dit model/).waitFor();
    await s.page.getByRole('checkbox', { name: 'two-heads' }).uncheck();
    await s.page.getByRole('checkbox', { name: 'dit-heads' }).check();
    await s.page.getByRole('button', { name: 'Load', exact: true }).click();
    await s.page.getByRole('alert').getByText(/head preset "dit-heads" does not fit this model: it is for a emoji-dit model and this model is emoji-lit/).waitFor();
    assert.equal(await s.page.getByText('2 selected', { exact: true }).count(), 1, 'the selection is unchanged');
    await s.screenshot('studio-presets');
    const dismiss = s.page.getByRole('alert').getByRole('button', { name: 'Dismiss message' });
    while ((await dismiss.count()) > 0) await dismiss.first().click();
    await s.page.getByRole('checkbox', { name: 'dit-heads' }).uncheck();
  });

  test('a one-round HeadHunter: the engine draws every candidate, the picks (mouse and keyboard) become the result and a preset', async () => {
    await s.page.locator('details.hunter > summary').click();
    await field('Rounds').fill('1');
    await field('Picks per round (k)').fill('2');
    await field('Strength u').fill('0.5');
    await s.page.getByRole('button', { name: 'Start search' }).click();
    const candidates = s.page.getByRole('button', { name: /^candidate L\dH\d/ });
    await candidates.nth(11).waitFor({ timeout: 90_000 });
    assert.equal(await candidates.count(), 12, 'one candidate per head');
    await s.page.getByText('Round 1 of 1: pick up to 2', { exact: false }).waitFor();
    await s.screenshot('studio-headhunter', { docs: s.page.locator('section[aria-labelledby="heads-title"]') });

    await s.page.getByRole('button', { name: /^candidate L4H1/ }).click();
    await s.page.getByRole('button', { name: /^candidate L0H0/ }).focus();
    await s.page.keyboard.press('ArrowRight'); // L0H1
    await s.page.keyboard.press('ArrowDown'); // one row further on
    const focused = await s.page.evaluate(() => (globalThis as unknown as { document: { activeElement: { getAttribute(n: string): string | null } } }).document.activeElement.getAttribute('aria-label'));
    const keyboardPick = /^candidate (L\dH\d)/.exec(focused ?? '')?.[1];
    assert.ok(keyboardPick && keyboardPick !== 'L0H1' && keyboardPick !== 'L4H1', `arrow keys moved to another candidate (${focused})`);
    await s.page.keyboard.press('Space');
    await s.page.getByText('2 of 2 picked').waitFor();
    await s.page.getByRole('button', { name: 'Continue with 2 picks' }).click();

    const picked = ['L4H1', keyboardPick].sort();
    await s.page.getByText(/Done after 1 round:/).waitFor();
    const shown = /Done after 1 round: (.*)\./.exec((await s.page.getByText(/Done after 1 round:/).textContent()) ?? '')?.[1].split(', ').sort();
    assert.deepEqual(shown, picked);

    await field('Preset name').nth(1).fill('hunted');
    await s.page.getByRole('button', { name: 'Save as preset' }).click();
    await s.page.getByText('Saved head preset hunted', { exact: false }).waitFor();
    const preset = JSON.parse(readFileSync(join(presetsDir(), 'hunted.json'), 'utf8'));
    assert.deepEqual(preset.heads.map((h: { layer: number; head: number }) => `L${h.layer}H${h.head}`).sort(), picked);
    assert.ok(preset.heads.every((h: { u: number }) => h.u === 0.5));
    assert.equal(preset.search.objective, 'picks');
    assert.deepEqual(preset.search.seeds, [7]);

    await s.page.getByRole('button', { name: 'Use these heads' }).click();
    await s.page.getByText('2 selected', { exact: true }).waitFor();
  });

  test('no script errors or CSP violations on the page', () => {
    assert.deepEqual(s.pageErrors, []);
  });
});
