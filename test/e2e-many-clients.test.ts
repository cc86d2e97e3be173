// 1000 WebSocket clients connect at once while the real engine generates with the embedded model:
// every client gets its answers and the generation finishes with its image.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { startServer, type StudioServer } from '../app/server/index.ts';
import { TEST_ENGINE_ENV } from '../pipelines/jobs/test-engine.ts';
import { ensureUiBuilt } from './e2e-harness.ts';

const CLIENTS = 1000;
const dir = mkdtempSync(join(tmpdir(), 'studio-many-clients-'));
let server: StudioServer;
let api: string;

before(async () => {
  await ensureUiBuilt();
  delete process.env[TEST_ENGINE_ENV]; // the real engine (a child process inherits the environment)
  server = await startServer({ port: 0, outputsDir: join(dir, 'outputs'), modelsDir: join(dir, 'models') });
  api = `ws://127.0.0.1:${server.port}/api?token=${new URL(server.url).searchParams.get('token')}`;
});
after(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Client {
  ws: WebSocket;
  call(method: string, params: unknown): Promise<{ type: string; result?: unknown; error?: unknown }>;
  events: { event: string; data: unknown }[];
}

function client(): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(api);
    const waiting = new Map<number, (m: never) => void>();
    const events: Client['events'] = [];
    let nextId = 1;
    ws.on('message', (raw) => {
      const m = JSON.parse(raw.toString());
      if (m.type === 'event') events.push(m);
      else waiting.get(m.id)?.(m as never);
    });
    ws.on('error', reject);
    ws.on('open', () =>
      resolve({
        ws,
        events,
        call: (method, params) =>
          new Promise((done) => {
            const id = nextId++;
            waiting.set(id, done);
            ws.send(JSON.stringify({ type: 'call', id, method, params }));
          }),
      }),
    );
  });
}

test(`${CLIENTS} concurrent clients during a generation are all answered, and the generation finishes`, { timeout: 300_000 }, async () => {
  const owner = await client();
  const started = await owner.call('generate', { request: { prompt: 'a smiling cat face', model: 'emoji-lit', steps: 40, batch: 4, seed: 7 } });
  assert.equal(started.type, 'result', JSON.stringify(started.error));
  const { jobId } = started.result as { jobId: string };

  const crowd = await Promise.all(Array.from({ length: CLIENTS }, () => client()));
  const answers = await Promise.all(crowd.map(async (c, i) => [await c.call('info', {}), await c.call(i % 2 ? 'queue' : 'gallery', {})]));
  assert.equal(answers.flat().filter((a) => a.type === 'result').length, 2 * CLIENTS, 'every call of every client was answered');
  const queueViews = answers.filter((_, i) => i % 2).map(([, q]) => q.result as { jobs: { id: string; status: string }[] });
  assert.ok(queueViews.some((q) => q.jobs.some((j) => j.id === jobId)), 'the clients saw the job');

  // The generation finishes: its four images arrive as events (at the owner and at the crowd alike).
  const deadline = Date.now() + 240_000;
  while (owner.events.filter((e) => e.event === 'image').length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.equal(owner.events.filter((e) => e.event === 'image').length, 4);
  const queue = (await owner.call('queue', {})).result as { jobs: { id: string; status: string }[] };
  assert.equal(queue.jobs.find((j) => j.id === jobId)?.status, 'done');
  assert.ok(crowd.every((c) => c.ws.readyState === WebSocket.OPEN), 'no client was dropped');
  for (const c of [owner, ...crowd]) c.ws.close();
});
