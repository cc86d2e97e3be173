// `studio serve`: the studio's UI over HTTP and its API over a WebSocket (/api), for a browser.
// Bound to 127.0.0.1 unless told otherwise; any other address needs a token (see access.ts).
import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { WebSocketServer } from 'ws';
import type { HostLauncher } from '../../pipelines/host/launchers.ts';
import { STUDIO_VERSION } from '../cli/version.ts';
import { checkBinding, denyReason, isLoopbackHost } from './access.ts';
import { resolveInside, sendFile, sendText } from './static-files.ts';
import { Studio } from './studio.ts';
import { bridgeSocket } from './ws-bridge.ts';
import type { RedisQueueTarget } from './redis-queue-view.ts';

export const DEFAULT_PORT = 7870;
export const API_PATH = '/api';
/** Dropped PNGs travel base64 inside a JSON call. */
const MAX_MESSAGE_BYTES = 96 * 1024 * 1024;

export interface ServerOptions {
  /** 0 picks a free port. Default 7870. */
  port?: number;
  /** Default 127.0.0.1. Any non-loopback address requires `token`. */
  host?: string;
  token?: string;
  /** Default ./models and ./outputs (from the working directory). */
  modelsDir?: string;
  outputsDir?: string;
  /** The built UI; default dist/renderer of this checkout (`npm run build:ui`). */
  rendererDir?: string;
  engineHost?: HostLauncher;
  /** A Redis-backed queue of `studio worker` processes to show in the UI. */
  redis?: RedisQueueTarget;
}

export interface StudioServer {
  /** The address to open, with the token when there is one. */
  url: string;
  host: string;
  port: number;
  studio: Studio;
  close(): Promise<void>;
}

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export async function startServer(o: ServerOptions = {}): Promise<StudioServer> {
  const host = o.host ?? '127.0.0.1';
  const token = checkBinding(host, o.token);
  const rendererDir = resolve(o.rendererDir ?? resolve(REPO_ROOT, 'dist/renderer'));
  const studio = new Studio({
    modelsDir: resolve(o.modelsDir ?? 'models'),
    outputsDir: resolve(o.outputsDir ?? 'outputs'),
    version: STUDIO_VERSION,
    shell: 'browser',
    engineHost: o.engineHost,
    redis: o.redis,
  });
  // The UI opens on the default model's settings: have the model catalogue ready before serving it.
  await studio.listModels().catch(() => undefined);
  const access = { loopbackOnly: isLoopbackHost(host), token };

  const http = createServer((req, res) => handleHttp(req, res));
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
  wss.on('connection', (socket) => bridgeSocket(socket, studio));

  function handleHttp(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://studio');
    const denied = denyReason({ hostHeader: req.headers.host, origin: req.headers.origin, token: url.searchParams.get('token') }, { ...access, token: undefined });
    if (denied) return sendText(res, 403, denied);
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendText(res, 405, `${req.method} is not served here`);
    if (url.pathname.startsWith('/outputs/')) {
      const tokenDenied = denyReason({ hostHeader: req.headers.host, origin: undefined, token: url.searchParams.get('token') }, access);
      if (tokenDenied) return sendText(res, 403, tokenDenied);
      const path = studio.imagePath(decodeURIComponent(url.pathname.slice('/outputs/'.length)));
      if (!path || !sendFile(res, path, 'immutable')) sendText(res, 404, 'no such image in the outputs folder');
      return;
    }
    if (!existsSync(resolve(rendererDir, 'index.html'))) {
      return sendText(res, 503, `the studio UI is not built (no ${rendererDir}/index.html): run npm run build:ui`);
    }
    const path = url.pathname === '/' ? resolve(rendererDir, 'index.html') : resolveInside(rendererDir, url.pathname);
    const cache = url.pathname.startsWith('/assets/') ? 'immutable' : 'none';
    if (!path || !sendFile(res, path, cache)) sendText(res, 404, `not found: ${url.pathname}`);
  }

  http.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://studio');
    const denied =
      url.pathname !== API_PATH ? `no WebSocket at ${url.pathname}` : denyReason({ hostHeader: req.headers.host, origin: req.headers.origin, token: url.searchParams.get('token') }, access);
    if (denied) {
      socket.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${denied}\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  await new Promise<void>((resolveListen, reject) => {
    http.once('error', reject);
    http.listen(o.port ?? DEFAULT_PORT, host, () => {
      http.off('error', reject);
      resolveListen();
    });
  }).catch(async (e: NodeJS.ErrnoException) => {
    await studio.close();
    throw e.code === 'EADDRINUSE' ? new Error(`studio serve: port ${o.port ?? DEFAULT_PORT} on ${host} is in use; pick another with --port`) : e;
  });

  const port = (http.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  const url = `http://${shownHost}:${port}/${token ? `?token=${encodeURIComponent(token)}` : ''}`;

  return {
    url,
    host,
    port,
    studio,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      const closed = new Promise<void>((r) => http.close(() => r()));
      http.closeAllConnections();
      await closed;
      await studio.close();
    },
  };
}
