// Regression tests for the server findings of issue 17: requests and frames that once ended
// `studio serve`, size limits checked before decoding, paths confined to the studio's folders, and
// metadata read off the main thread within budgets. A real server on a random port.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { deflateSync } from 'node:zlib';
import { WebSocket } from 'ws';
import { call } from './support/ws-api.ts';
import { startServer, type StudioServer } from '../app/server/index.ts';
import { PathPolicy } from '../app/server/confine.ts';
import { Inspector } from '../app/server/inspector.ts';
import { MAX_DROPPED_FILE_BYTES } from '../pipelines/jobs/api-limits.ts';
import { writeChunks } from '../pipelines/metadata/png-chunks.ts';
import { ensureUiBuilt } from './e2e-harness.ts';

const dir = mkdtempSync(join(tmpdir(), 'studio-reliability-serve-'));
const dirs = { outputsDir: join(dir, 'outputs'), modelsDir: join(dir, 'models') };
let server: StudioServer;
let token: string;
before(async () => {
  await ensureUiBuilt();
  server = await startServer({ port: 0, ...dirs });
  token = new URL(server.url).searchParams.get('token')!;
});
after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

function get(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, path, headers: { host: `127.0.0.1:${server.port}` } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

function open(): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/api?token=${token}`);
    ws.on('open', () => resolve(ws));
    ws.on('error', reject);
  });
}

/** The server still answers a fresh client. */
async function alive(): Promise<void> {
  const ws = await open();
  assert.equal((await call(ws, 'info', {})).type, 'result');
  ws.close();
}

/** Sends raw bytes after a real WebSocket handshake; resolves when the server ends the connection. */
function rawFrames(frames: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const socket = tcpConnect(server.port, '127.0.0.1');
    socket.on('error', () => resolve());
    socket.on('close', () => resolve());
    let upgraded = false;
    socket.on('data', (d) => {
      if (!upgraded && d.toString().startsWith('HTTP/1.1 101')) {
        upgraded = true;
        socket.write(frames);
      }
    });
    socket.write(
      `GET /api?token=${token} HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
  });
}

/** A client frame: FIN + opcode (+ RSV bits), masked unless told otherwise. */
function frame(opcode: number, payload: Buffer, o: { rsv?: number; masked?: boolean; declaredLength?: bigint } = {}): Buffer {
  const masked = o.masked ?? true;
  const head = [0x80 | (o.rsv ?? 0) | opcode];
  const length = o.declaredLength ?? BigInt(payload.length);
  const lenBytes: number[] = [];
  if (length < 126n) head.push((masked ? 0x80 : 0) | Number(length));
  else if (length < 65536n) head.push((masked ? 0x80 : 0) | 126, Number(length >> 8n), Number(length & 0xffn));
  else {
    head.push((masked ? 0x80 : 0) | 127);
    for (let i = 7; i >= 0; i--) lenBytes.push(Number((length >> BigInt(8 * i)) & 0xffn));
  }
  const mask = masked ? Buffer.from([1, 2, 3, 4]) : Buffer.alloc(0);
  const body = masked ? Buffer.from(payload.map((b, i) => b ^ mask[i % 4])) : payload;
  return Buffer.concat([Buffer.from(head), Buffer.from(lenBytes), mask, body]);
}

describe('no request ends the process', () => {
  test('GET /outputs/%E0%A4%A (a no-cors <img> sends it) is answered, with and without the token', async () => {
    assert.equal(await get('/outputs/%E0%A4%A'), 403);
    assert.equal(await get(`/outputs/%E0%A4%A?token=${token}`), 404);
    assert.equal(await get('/%E0%A4%A'), 404);
    await alive();
  });

  for (const [name, bytes] of [
    ['a reserved opcode', frame(0x3, Buffer.from('x'))],
    ['text that is not UTF-8', frame(0x1, Buffer.from([0xc3, 0x28, 0xff]))],
    ['RSV1 without a negotiated extension', frame(0x1, Buffer.from('{}'), { rsv: 0x40 })],
    ['an unmasked client frame', frame(0x1, Buffer.from('{}'), { masked: false })],
    ['a declared length of 256 MiB', frame(0x1, Buffer.from('{'), { declaredLength: 256n * 1024n * 1024n })],
    ['a declared length of 2^63', frame(0x2, Buffer.alloc(0), { declaredLength: 1n << 63n })],
  ] as const) {
    test(`a WebSocket frame with ${name} closes that socket only`, async () => {
      await rawFrames(bytes);
      await alive();
    });
  }

  test('a message over the size limit closes that socket only', async () => {
    const ws = await open();
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    ws.on('error', () => {});
    ws.send(Buffer.alloc(Math.ceil((MAX_DROPPED_FILE_BYTES * 4) / 3) + 128 * 1024, 0x61).toString());
    assert.equal(await closed, 1009);
    await alive();
  });

  test('a dropped file over the limit is refused by its size before it is decoded', async () => {
    const ws = await open();
    const r = await call(ws, 'readImageMetadata', { name: 'big.png', dataBase64: 'A'.repeat(Math.ceil((MAX_DROPPED_FILE_BYTES * 4) / 3) + 8) });
    assert.equal(r.error?.code, 'bad-request');
    assert.match(r.error!.message, /over 32 MiB; drop the PNG itself/);
    ws.close();
  });

  test('calls beyond the in-flight limit are answered with an error, not queued without bound', async () => {
    const ws = await open();
    const answers = await Promise.all(Array.from({ length: 200 }, () => call(ws, 'gallery', {})));
    assert.ok(answers.every((a) => a.type === 'result' || /calls are waiting on this connection/.test(a.error?.message ?? '')));
    ws.close();
  });
});

describe('paths a client sends stay inside the studio folders', () => {
  const refused = /must name something inside the studio's folders/;
  test('model, vae, initImage, attention path and modelsDir outside the folders are refused without saying what exists', async () => {
    const ws = await open();
    const requests = [
      { prompt: 'x', model: '/etc/passwd' },
      { prompt: 'x', model: '../../../../etc/hostname' },
      { prompt: 'x', vae: '/etc' },
      { prompt: 'x', initImage: '/etc/hosts' },
      { prompt: 'x', attention: { kind: 'linfusion', path: '/root' } },
      { prompt: 'x', controlNets: [{ model: '/etc/passwd', image: 'a.png' }] },
      { prompt: 'x', controlNets: [{ model: 'cn.safetensors', image: '/etc/hosts' }] },
    ];
    for (const request of requests) {
      const r = await call(ws, 'generate', { request });
      assert.equal(r.error?.code, 'bad-request', JSON.stringify(request));
      assert.match(r.error!.message, refused);
      assert.doesNotMatch(r.error!.message, /passwd|hostname|hosts|root|ENOENT|EACCES/);
    }
    const dirChoice = await call(ws, 'generate', { request: { prompt: 'x', modelsDir: '/' } });
    assert.match(dirChoice.error!.message, /modelsDir cannot be chosen by a client/);
    for (const [method, params] of [
      ['listHeads', { model: '/etc/passwd' }],
      ['listPresets', { model: '/etc/passwd' }],
      ['headEffects', { model: '/etc/passwd', prompt: 'x', seed: 1 }],
    ] as const) {
      const r = await call(ws, method, params);
      assert.equal(r.error?.code, 'bad-request', method);
      assert.match(r.error!.message, refused);
    }
    // A bare name is looked up in the models folder, never in the server's working directory.
    assert.equal(new PathPolicy(dirs.modelsDir, dirs.outputsDir).model('package.json'), join(dirs.modelsDir, 'package.json'));
    const q = await call(ws, 'queue', {});
    assert.deepEqual((q.result as { jobs: unknown[] }).jobs, [], 'no job was queued');
    ws.close();
  });
});

describe('metadata is read off the main thread, within budgets', () => {
  const ihdr = Uint8Array.from([0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0]);
  const bombPng = () =>
    writeChunks([
      { type: 'IHDR', data: ihdr },
      ...Array.from({ length: 16 }, () => ({ type: 'zTXt', data: Uint8Array.from([...Buffer.from('parameters\0\0'), ...deflateSync(new Uint8Array(64 * 1024 * 1024))]) })),
      { type: 'IDAT', data: deflateSync(Uint8Array.of(0, 0, 0, 0)) },
      { type: 'IEND', data: new Uint8Array() },
    ]);

  test('a decompression bomb in the outputs folder is listed with a warning; the server keeps answering', async () => {
    mkdirSync(dirs.outputsDir, { recursive: true });
    writeFileSync(join(dirs.outputsDir, 'bomb.png'), bombPng());
    const ws = await open();
    const r = await call(ws, 'gallery', {});
    const bomb = (r.result as { images: { name: string; warnings: string[] }[] }).images.find((i) => i.name === 'bomb.png');
    assert.match(bomb?.warnings.join(' ') ?? '', /decompress to more than/);
    ws.close();
  });

  test('a task over its time budget ends the worker and fails clearly; the next task gets a fresh worker', async () => {
    const inspector = new Inspector({ timeMs: 1, heapMb: 256 });
    try {
      // Starting a worker alone takes longer than 1 ms, so the first task overruns whatever the machine's speed.
      await assert.rejects(inspector.run({ kind: 'droppedImage', name: 'a.png', bytes: bombPng() }), /image "a\.png" took more than 0\.001 s to read, so it was skipped/);
    } finally {
      await inspector.close();
    }
    const roomy = new Inspector({ timeMs: 60_000, heapMb: 256 });
    try {
      await assert.rejects(roomy.run({ kind: 'droppedImage', name: 'b.jpg', bytes: Buffer.from([0xff, 0xd8, 0xff, 0]) }), /"b\.jpg" is a JPEG image/);
    } finally {
      await roomy.close();
    }
  });
});
