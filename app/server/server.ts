// `studio serve`: the studio's UI over HTTP and its API over a WebSocket (/api), for a browser.
// Bound to 127.0.0.1 unless told otherwise. Every launch has a secret token (given, or drawn here), as
// notebook servers do: gallery images and the API need it, so no other web page can use the studio.
// No request ends the process: every handler and socket is guarded, and sizes are checked before
// anything is decoded.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';
import { WebSocketServer } from 'ws';
import type { HostLauncher } from '../../pipelines/host/launchers.ts';
import { STUDIO_VERSION } from '../cli/version.ts';
import { checkBinding, denyReason, isLoopbackHost } from './access.ts';
import { resolveInside, sendFile, sendText } from './static-files.ts';
import { Studio } from './studio.ts';
import { ImageTiles } from './image-tiles.ts';
import { bridgeSocket } from './ws-bridge.ts';
import { MAX_DROPPED_FILE_BYTES } from '../../pipelines/jobs/api-limits.ts';
import type { RedisQueueTarget } from './redis-queue-view.ts';

export const DEFAULT_PORT = 7870;
export const API_PATH = '/api';
/** Dropped PNGs travel base64 inside a JSON call: MAX_DROPPED_FILE_BYTES, base64, plus the call around it. */
export const MAX_MESSAGE_BYTES = Math.ceil((MAX_DROPPED_FILE_BYTES * 4) / 3) + 64 * 1024;

export interface ServerOptions {
  /** 0 picks a free port. Default 7870. */
  port?: number;
  /** Default 127.0.0.1. Any non-loopback address requires `token`. */
  host?: string;
  /** The launch's secret; default: 32 random bytes, drawn at each start. */
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
  const token = checkBinding(host, o.token) ?? randomBytes(32).toString('base64url');
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
  const tiles = new ImageTiles(join(resolve(o.outputsDir ?? 'outputs'), '.tiles'), (name) => studio.imagePath(name));

  const http = createServer((req, res) => {
    try {
      handleHttp(req, res);
    } catch (e) {
      failRequest(res, e);
    }
  });
  // Malformed HTTP (bad headers, oversized head): answer 400 when the socket still can, never throw.
  http.on('clientError', (_e, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
  wss.on('connection', (socket) => bridgeSocket(socket, studio));
  wss.on('error', () => {}); // per-socket errors are handled by bridgeSocket; the server itself has none to report

  function handleHttp(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://studio');
    const denied = denyReason({ hostHeader: req.headers.host, origin: req.headers.origin, token: url.searchParams.get('token') }, { ...access, token: undefined });
    if (denied) return sendText(res, 403, denied);
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendText(res, 405, `${req.method} is not served here`);
    if (url.pathname.startsWith('/outputs/')) {
      const tokenDenied = denyReason({ hostHeader: req.headers.host, origin: undefined, token: url.searchParams.get('token') }, access);
      if (tokenDenied) return sendText(res, 403, tokenDenied);
      const name = decodePathSegment(url.pathname.slice('/outputs/'.length));
      const path = name === undefined ? undefined : studio.imagePath(name);
      if (!path || !sendFile(res, path, 'immutable')) sendText(res, 404, 'no such image in the outputs folder');
      return;
    }
    if (url.pathname.startsWith('/tiles/')) {
      const tokenDenied = denyReason({ hostHeader: req.headers.host, origin: undefined, token: url.searchParams.get('token') }, access);
      if (tokenDenied) return sendText(res, 403, tokenDenied);
      tiles.serve(url.pathname, res).catch((e: unknown) => failRequest(res, e));
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
    socket.on('error', () => socket.destroy()); // a reset during the handshake is the client's business
    try {
      const url = new URL(req.url ?? '/', 'http://studio');
      const denied =
        url.pathname !== API_PATH ? `no WebSocket at ${url.pathname}` : denyReason({ hostHeader: req.headers.host, origin: req.headers.origin, token: url.searchParams.get('token') }, access);
      if (denied) {
        socket.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${denied}\n`);
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    } catch {
      socket.destroy();
    }
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
  const url = `http://${shownHost}:${port}/?token=${encodeURIComponent(token)}`;

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

/** A percent-encoded path segment, or undefined when it is not valid (e.g. `%E0%A4%A`). */
function decodePathSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/** A handler failed: answer 500 without details (they stay in the server's log) if nothing was sent yet. */
function failRequest(res: ServerResponse, e: unknown): void {
  process.stderr.write(`studio serve: a request failed: ${(e as Error)?.message ?? String(e)}\n`);
  if (!res.headersSent) sendText(res, 500, 'the studio could not answer this request');
  else res.destroy();
}
