// `studio serve` without a browser: who may connect (loopback by default, a token otherwise, no DNS
// rebinding, no cross-origin sockets), what the HTTP side serves and refuses, and how the API answers
// bad calls. A real server on a random port; the engine host is not needed for these calls.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { call } from './support/ws-api.ts';
import { startServer, type StudioServer } from '../app/server/index.ts';
import { writeSafetensors } from '../pipelines/io/safetensors.ts';
import { ensureUiBuilt } from './e2e-harness.ts';

const dir = mkdtempSync(join(tmpdir(), 'studio-serve-'));
const dirs = { outputsDir: join(dir, 'outputs'), modelsDir: join(dir, 'models') };
const TOKEN = 'a-long-random-token-0123456789';

interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Opens the API socket; resolves with the socket, or with the HTTP status that refused it. */
function connect(url: string, headers: Record<string, string> = {}): Promise<WebSocket | number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on('open', () => resolve(ws));
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('error', reject);
  });
}

after(() => rmSync(dir, { recursive: true, force: true }));

describe('binding', () => {
  test('a non-loopback address without a token is refused, naming the token', async () => {
    await assert.rejects(startServer({ host: '0.0.0.0', port: 0, ...dirs }), /binding to 0\.0\.0\.0 .*give a token/);
  });

  test('a short token is refused', async () => {
    await assert.rejects(startServer({ host: '0.0.0.0', port: 0, token: 'short', ...dirs }), /at least 16 characters/);
  });

  test('bound to all addresses with a token: the socket and images need it, the page does not', async () => {
    await ensureUiBuilt();
    const server = await startServer({ host: '0.0.0.0', port: 0, token: TOKEN, ...dirs });
    try {
      assert.match(server.url, new RegExp(`\\?token=${TOKEN}$`));
      const host = { host: `127.0.0.1:${server.port}` };
      assert.equal((await get(server.port, '/', host)).status, 200);
      assert.equal(await connect(`ws://127.0.0.1:${server.port}/api`), 403);
      assert.equal(await connect(`ws://127.0.0.1:${server.port}/api?token=${TOKEN}x`), 403);
      const ws = await connect(`ws://127.0.0.1:${server.port}/api?token=${TOKEN}`);
      assert.ok(ws instanceof WebSocket);
      const info = await call(ws, 'info', {});
      assert.equal(info.type, 'result');
      assert.equal((info.result as { shell: string }).shell, 'browser');
      ws.close();
      assert.equal((await get(server.port, '/outputs/x.png', host)).status, 403);
      assert.equal((await get(server.port, `/outputs/x.png?token=${TOKEN}`, host)).status, 404);
    } finally {
      await server.close();
    }
  });
});

describe('loopback server', () => {
  let server: StudioServer;
  let ws: WebSocket;
  /** The API's address with the launch's token, as the page opens it. */
  let api: string;
  before(async () => {
    await ensureUiBuilt();
    server = await startServer({ port: 0, ...dirs });
    api = `ws://127.0.0.1:${server.port}/api?token=${new URL(server.url).searchParams.get('token')}`;
    const socket = await connect(api, { origin: `http://127.0.0.1:${server.port}` });
    assert.ok(socket instanceof WebSocket, `the studio's own origin was refused with ${socket}`);
    ws = socket;
  });
  after(async () => {
    ws.close();
    await server.close();
  });

  test('binds to 127.0.0.1 by default, with a fresh secret token in its address', async () => {
    assert.equal(server.host, '127.0.0.1');
    assert.match(server.url, new RegExp(`^http://127\\.0\\.0\\.1:${server.port}/\\?token=[A-Za-z0-9_-]{40,}$`));
    const other = await startServer({ port: 0, ...dirs });
    await other.close();
    assert.notEqual(new URL(other.url).searchParams.get('token'), new URL(server.url).searchParams.get('token'));
  });

  test('even on loopback, the socket and the images need the token; the page does not', async () => {
    const host = { host: `127.0.0.1:${server.port}` };
    assert.equal(await connect(`ws://127.0.0.1:${server.port}/api`), 403);
    assert.equal(await connect(`${api}x`), 403);
    assert.equal((await get(server.port, '/outputs/x.png', host)).status, 403);
    assert.equal((await get(server.port, `/outputs/x.png?${new URL(api).search.slice(1)}`, host)).status, 404);
    assert.equal((await get(server.port, '/', host)).status, 200);
  });

  test('serves the UI with a content security policy that allows no inline code', async () => {
    const page = await get(server.port, '/', { host: `localhost:${server.port}` });
    assert.equal(page.status, 200);
    assert.match(page.body, /<div id="app">/);
    const csp = String(page.headers['content-security-policy']);
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(page.headers['x-content-type-options'], 'nosniff');
  });

  test('refuses a foreign Host header (DNS rebinding) and a foreign Origin on the socket', async () => {
    const rebound = await get(server.port, '/', { host: `attacker.example:${server.port}` });
    assert.equal(rebound.status, 403);
    assert.match(rebound.body, /not this machine/);
    assert.equal(await connect(api, { origin: 'http://attacker.example' }), 403);
  });

  test('never serves files outside the UI folder', async () => {
    const token = new URL(api).search;
    for (const path of ['/%2e%2e/package.json', '/..%2f..%2fpackage.json', `/outputs/..%2f..%2fpackage.json${token}`]) {
      const r = await get(server.port, path, { host: `127.0.0.1:${server.port}` });
      assert.equal(r.status, 404, `${path} answered ${r.status}`);
      assert.doesNotMatch(r.body, /diffusion-studio/);
    }
  });

  test('answers bad calls with errors that name the problem', async () => {
    const unknown = await call(ws, 'deleteEverything', {});
    assert.equal(unknown.error?.code, 'unknown-method');
    assert.match(unknown.error!.message, /listModels/);

    const badSteps = await call(ws, 'generate', { request: { prompt: 'x', steps: 0 } });
    assert.equal(badSteps.error?.code, 'bad-request');
    assert.match(badSteps.error!.message, /steps/);

    const headsWithoutPag = await call(ws, 'generate', { request: { prompt: 'x' }, heads: [{ layer: 0, head: 1, strength: 0.5 }] });
    assert.equal(headsWithoutPag.error?.code, 'bad-request');
    assert.match(headsWithoutPag.error!.message, /PAG scale/);

    const badStrength = await call(ws, 'generate', { request: { prompt: 'x', pag: { scale: 2, layers: ['mid'] } }, heads: [{ layer: 0, head: 1, strength: 3 }] });
    assert.equal(badStrength.error?.code, 'bad-request');
    assert.match(badStrength.error!.message, /strength/);
  });

  test('readImageMetadata says what a dropped file is when it is not a PNG', async () => {
    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 0x4a, 0x46]).toString('base64');
    const r = await call(ws, 'readImageMetadata', { name: 'photo.jpg', dataBase64: jpeg });
    assert.equal(r.error?.code, 'bad-request');
    assert.match(r.error!.message, /"photo\.jpg" is a JPEG image, not a PNG/);
  });

  test('listModels finds checkpoints and diffusers folders, guesses their family, and says why one is unusable', async () => {
    const tensor = (name: string) => ({ [name]: { dtype: 'F32' as const, shape: [1], data: new Float32Array([0]) } });
    mkdirSync(dirs.modelsDir, { recursive: true });
    writeSafetensors(join(dirs.modelsDir, 'tiny-sd15.safetensors'), { ...tensor('model.diffusion_model.input_blocks.0.0.weight'), ...tensor('cond_stage_model.transformer.text_model.final_layer_norm.weight') });
    writeSafetensors(join(dirs.modelsDir, 'tiny-xl.safetensors'), { ...tensor('conditioner.embedders.1.model.ln_final.weight'), ...tensor('model.diffusion_model.input_blocks.0.0.weight') });
    writeFileSync(join(dirs.modelsDir, 'broken.safetensors'), 'not a checkpoint');
    mkdirSync(join(dirs.modelsDir, 'some-pipeline'));
    writeFileSync(join(dirs.modelsDir, 'some-pipeline/model_index.json'), JSON.stringify({ _class_name: 'StableDiffusionXLPipeline' }));
    const r = await call(ws, 'listModels', {});
    const models = (r.result as { models: { name: string; family?: string; methods: string[]; problem?: string }[] }).models;
    const byName = Object.fromEntries(models.map((m) => [m.name, m]));
    assert.deepEqual(Object.keys(byName), ['broken', 'some-pipeline', 'tiny-sd15', 'tiny-xl']);
    assert.equal(byName['tiny-sd15'].family, 'sd1');
    assert.ok(byName['tiny-sd15'].methods.includes('agent'));
    assert.equal(byName['tiny-xl'].family, 'sdxl');
    assert.equal(byName['some-pipeline'].family, 'sdxl');
    assert.equal(byName.broken.family, undefined);
    assert.match(byName.broken.problem ?? '', /broken\.safetensors/);
  });

  test('a malformed message closes the socket with a reason', async () => {
    const socket = await connect(api);
    assert.ok(socket instanceof WebSocket);
    const closed = new Promise<[number, string]>((resolve) => socket.on('close', (code, reason) => resolve([code, reason.toString()])));
    socket.send('not json');
    assert.deepEqual(await closed, [1007, 'a message was not valid JSON']);
  });
});
