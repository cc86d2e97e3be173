// The UI stays responsive while the engine generates: with the REAL embedded model drawing a batch
// (several seconds of ORT work in the engine host, progress events streaming in), each key press in
// the prompt field is timed in the page from the key event to the DOM update of the highlighted
// prompt (performance clock, MutationObserver), and to the next frame after it. The figures are printed;
// what is asserted is that every key was handled while the generation was still running.
// While a job runs, waiting jobs can be reordered, and they then run in the new order.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readImageMetadata } from '../pipelines/metadata/read-metadata.ts';
import { describe, test } from 'node:test';
import { browserSkipReason, chooseEmbedded, openRealStudio, type RealStudio } from './e2e-real-studio.ts';
import { studioPerSuite } from './e2e-harness.ts';

const skip = browserSkipReason();

const TYPED = 'a lighthouse, (stormy sea:1.2)';

/** The page's globals the probe uses (this file compiles against Node's types, without the DOM). */
interface ProbeWindow {
  document: { querySelector(s: string): { addEventListener(t: string, f: (e: { timeStamp: number; key: string }) => void, capture: boolean): void } | null };
  MutationObserver: new (f: () => void) => { observe(target: unknown, o: object): void };
  requestAnimationFrame(f: () => void): void;
  performance: { now(): number };
  probe: { dom: number[]; frame: number[] };
}

describe('responsiveness while the real engine generates', { skip }, () => {
  let s: RealStudio;
  studioPerSuite(openRealStudio, (opened) => (s = opened));

  test('every key press updates the prompt while the engine generates a batch (the delays are printed, not asserted: timings belong to benches)', async (t) => {
    const field = (label: string) => s.page.getByLabel(label, { exact: true });
    await chooseEmbedded(s.page, 'emoji-lit');
    await field('Batch').fill('12');
    await field('Prompt').fill('a smiling cat face');
    await field('Prompt').focus();
    const started = performance.now();
    await s.page.keyboard.press('Control+Enter');
    await s.page.getByText(/denoise: step \d+ of 8/).waitFor({ timeout: 60_000 });

    await s.page.evaluate(() => {
      const w = globalThis as unknown as ProbeWindow;
      w.probe = { dom: [], frame: [] };
      let pressed: number | undefined;
      // Printable keys only: a Shift press before "(" changes nothing on screen.
      w.document.querySelector('#prompt')!.addEventListener('keydown', (e) => e.key.length === 1 && (pressed = e.timeStamp), true);
      const backdrop = w.document.querySelector('.field:has(#prompt) .backdrop');
      new w.MutationObserver(() => {
        if (pressed === undefined) return;
        const at = pressed;
        pressed = undefined;
        w.probe.dom.push(w.performance.now() - at);
        w.requestAnimationFrame(() => w.probe.frame.push(w.performance.now() - at));
      }).observe(backdrop, { childList: true, subtree: true, characterData: true });
    });

    await field('Prompt').fill('');
    const runningBefore = await s.page.locator('.jobs li.running').count();
    await s.page.keyboard.type(TYPED, { delay: 25 });
    const runningAfter = await s.page.locator('.jobs li.running').count();
    assert.equal(await field('Prompt').inputValue(), TYPED);
    assert.equal(runningBefore, 1, 'the engine was generating when typing started');
    assert.equal(runningAfter, 1, 'and still generating when it ended');

    const { dom, frame } = await s.page.evaluate(() => (globalThis as unknown as ProbeWindow).probe);
    assert.equal(dom.length, TYPED.length, `every key press updated the DOM (${dom.length} updates: ${dom.map((x) => x.toFixed(0)).join(' ')})`);
    const stats = (xs: number[]) => {
      const sorted = [...xs].sort((a, b) => a - b);
      return { median: sorted[Math.floor(sorted.length / 2)], max: sorted.at(-1)! };
    };
    const d = stats(dom);
    const f = stats(frame);
    const report = `key press → DOM update: median ${d.median.toFixed(1)} ms, max ${d.max.toFixed(1)} ms; → next frame: median ${f.median.toFixed(1)} ms, max ${f.max.toFixed(1)} ms (${dom.length} keys, engine generating a batch of 12)`;
    t.diagnostic(report);
    console.log(report);

    await s.page.locator('.jobs li.done').waitFor({ timeout: 120_000 });
    t.diagnostic(`the batch took ${((performance.now() - started) / 1000).toFixed(1)} s from Ctrl+Enter to done`);
    assert.equal(await s.page.getByRole('button', { name: /^a smiling cat face/ }).count(), 12, 'the batch landed in the gallery');
  });

  test('waiting jobs move up and down in the queue while one runs, and run in the new order', async () => {
    const field = (label: string) => s.page.getByLabel(label, { exact: true });
    const queue = s.page.locator('.jobs li');
    await field('Batch').fill('16');
    await field('Prompt').fill('a long batch');
    await s.page.keyboard.press('Control+Enter');
    await s.page.locator('.jobs li.running').waitFor();
    await field('Batch').fill('1');
    for (const prompt of ['first waiting', 'second waiting', 'third waiting']) {
      await field('Prompt').fill(prompt);
      await s.page.keyboard.press('Control+Enter');
    }
    const order = async () => (await queue.locator('.prompt').allTextContents()).slice(0, 4);
    await s.page.getByRole('button', { name: 'Move job-5 up' }).waitFor();
    assert.deepEqual(await order(), ['a long batch', 'first waiting', 'second waiting', 'third waiting']);
    assert.ok(await s.page.getByRole('button', { name: 'Move job-3 up' }).isDisabled(), 'the first waiting job cannot go further up');
    await s.page.getByRole('button', { name: 'Move job-5 up' }).click();
    await s.page.getByRole('button', { name: 'Move job-5 up' }).click();
    await s.page.getByRole('button', { name: 'Move job-3 down' }).click();
    // Each move is a round trip to the server: wait for the queue the page shows to settle on the new order.
    const expected = ['a long batch', 'third waiting', 'second waiting', 'first waiting'];
    await s.page.waitForFunction(
      (want) => [...(globalThis as unknown as { document: { querySelectorAll(s: string): Iterable<{ textContent: string | null }> } }).document.querySelectorAll('.jobs li .prompt')]
        .slice(0, 4).map((e) => e.textContent?.trim()).join('|') === want.join('|'),
      expected, { timeout: 30_000 },
    ).catch(() => undefined);
    assert.deepEqual(await order(), expected);
    assert.equal(await s.page.locator('.jobs li.running').count(), 1, 'reordered while the batch was still running');

    await s.page.locator('.jobs li.done').nth(4).waitFor({ timeout: 120_000 });
    // The order the engine finished them in: when each image file was written.
    const written = readdirSync(s.outputsDir)
      .filter((f) => f.endsWith('.png'))
      .map((f) => ({ prompt: readImageMetadata(readFileSync(join(s.outputsDir, f)), f).settings?.prompt ?? '', at: statSync(join(s.outputsDir, f)).mtimeMs }))
      .filter((x) => x.prompt.endsWith('waiting'))
      .sort((a, b) => a.at - b.at);
    assert.deepEqual(written.map((x) => x.prompt), ['third waiting', 'second waiting', 'first waiting']);
  });
});
