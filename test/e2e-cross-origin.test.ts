// A web page from another origin, in real Chromium, tries everything a page can send to a running
// studio: WebSockets with and without a guessed token, fetches of gallery images and of the API, an
// <img> with a malformed URL, a form POST. The studio must do nothing: no job, no file read, no crash.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { WebSocket } from 'ws';
import { startServer, type StudioServer } from '../app/server/index.ts';
import { encodePng } from '../pipelines/metadata/encode-png.ts';
import { browserSkipReason, CHROMIUM, ensureUiBuilt } from './e2e-harness.ts';

const skip = browserSkipReason();
const dir = mkdtempSync(join(tmpdir(), 'studio-cross-origin-'));
const outputsDir = join(dir, 'outputs');
let studio: StudioServer;
let attacker: Server;
let browser: Browser;
const IMAGE = '20260101-000000-1-0.png';

/** What the foreign page runs; every attempt records its outcome in window.outcomes. */
function attackPage(studioPort: number): string {
  const base = `http://127.0.0.1:${studioPort}`;
  return `<!doctype html><meta charset="utf-8"><body><script>
const outcomes = {};
window.outcomes = outcomes;
const settle = (key, p) => p.then((v) => (outcomes[key] = v), (e) => (outcomes[key] = 'error: ' + e));
const socket = (key, url) => settle(key, new Promise((resolve) => {
  const ws = new WebSocket(url);
  ws.onopen = () => {
    ws.send(JSON.stringify({ type: 'call', id: 1, method: 'generate', params: { request: { prompt: 'pwned' } } }));
    resolve('opened');
  };
  ws.onerror = () => resolve('refused');
}));
const image = (key, src) => settle(key, new Promise((resolve) => {
  const img = new Image();
  img.onload = () => resolve('loaded ' + img.naturalWidth);
  img.onerror = () => resolve('failed');
  img.src = src;
}));
socket('wsNoToken', 'ws://127.0.0.1:${studioPort}/api');
socket('wsGuessedToken', 'ws://127.0.0.1:${studioPort}/api?token=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa');
socket('wsLocalhost', 'ws://localhost:${studioPort}/api');
image('imgBadEncoding', '${base}/outputs/%E0%A4%A');
image('imgGallery', '${base}/outputs/${IMAGE}');
settle('fetchImage', fetch('${base}/outputs/${IMAGE}').then((r) => r.text()));
settle('fetchImageNoCors', fetch('${base}/outputs/${IMAGE}', { mode: 'no-cors' }).then((r) => r.type + ' ' + r.status));
settle('fetchPage', fetch('${base}/').then((r) => r.text()));
settle('postApi', fetch('${base}/api', { method: 'POST', mode: 'no-cors', body: JSON.stringify({ type: 'call', id: 2, method: 'generate', params: { request: { prompt: 'pwned' } } }) }).then((r) => r.type));
const form = document.createElement('form');
form.method = 'POST';
form.action = '${base}/api';
form.target = 'sink';
document.body.innerHTML += '<iframe name="sink"></iframe>';
document.body.appendChild(form);
form.submit();
outcomes.formSent = true;
</script>`;
}

before(async () => {
  if (skip) return;
  await ensureUiBuilt();
  mkdirSync(outputsDir, { recursive: true });
  writeFileSync(join(outputsDir, IMAGE), await encodePng({ width: 2, height: 2, pixels: new Uint8Array(12) }, [['parameters', 'secret prompt\nSteps: 1, Seed: 1, Size: 2x2']]));
  studio = await startServer({ port: 0, outputsDir, modelsDir: join(dir, 'models') });
  attacker = createServer((_req, res) => res.end(attackPage(studio.port)));
  await new Promise<void>((r) => attacker.listen(0, '127.0.0.1', () => r()));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--disable-gpu', '--disable-dev-shm-usage'] });
});

after(async () => {
  await browser?.close();
  attacker?.close();
  await studio?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a page from another origin cannot make the studio do anything: no job, no file read, no crash', { skip, timeout: 120_000 }, async () => {
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${(attacker.address() as AddressInfo).port}/`);
  await page.waitForFunction(() => Object.keys((globalThis as unknown as { outcomes: object }).outcomes).length >= 10, undefined, { timeout: 30_000 });
  const outcomes = await page.evaluate(() => (globalThis as unknown as { outcomes: Record<string, unknown> }).outcomes);
  assert.equal(outcomes.wsNoToken, 'refused');
  assert.equal(outcomes.wsGuessedToken, 'refused');
  assert.equal(outcomes.wsLocalhost, 'refused');
  assert.equal(outcomes.imgBadEncoding, 'failed');
  assert.equal(outcomes.imgGallery, 'failed', 'a gallery image loaded into a foreign page');
  assert.match(String(outcomes.fetchImage), /^error: TypeError/, 'a foreign page read a gallery image');
  // Cross-Origin-Resource-Policy: same-origin makes even an opaque response a network error.
  assert.match(String(outcomes.fetchImageNoCors), /^error: TypeError/);
  assert.match(String(outcomes.fetchPage), /^error: TypeError/);
  assert.match(String(outcomes.postApi), /^(opaque|error: TypeError)/);
  await page.close();

  // The studio, asked by its own token: still running, nothing queued, nothing written.
  const ws = new WebSocket(`ws://127.0.0.1:${studio.port}/api?token=${new URL(studio.url).searchParams.get('token')}`);
  await new Promise((r) => ws.on('open', r));
  const queue = await new Promise<{ result: { jobs: unknown[]; running?: unknown } }>((resolve) => {
    ws.on('message', (m) => {
      const msg = JSON.parse(m.toString());
      if (msg.id === 7) resolve(msg);
    });
    ws.send(JSON.stringify({ type: 'call', id: 7, method: 'queue', params: {} }));
  });
  ws.close();
  assert.deepEqual(queue.result.jobs, []);
  assert.deepEqual(readdirSync(outputsDir).filter((n) => n.endsWith('.png')), [IMAGE]);
});
