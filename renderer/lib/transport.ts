// How the UI reaches the studio: a WebSocket in the browser (`studio serve`), or the preload bridge
// in the desktop app. Both carry the same calls and events (pipelines/jobs/api-studio.ts).
import type { CallOutcome, ElectronBridge, ServerMessage } from '../../pipelines/jobs/api-studio.ts';

export type { ElectronBridge };
export type ConnectionState = 'connecting' | 'open' | 'lost';

export interface Transport {
  readonly shell: 'browser' | 'electron';
  call(method: string, params: unknown): Promise<CallOutcome>;
  onEvent(listener: (event: string, data: unknown) => void): () => void;
  onConnection(listener: (state: ConnectionState) => void): () => void;
  /** The URL of a gallery image. */
  imageUrl(name: string): string;
  /** The URL of a gallery image's tile pyramid file (`info.json`, `thumb.png`, `LEVEL/COL_ROW.png`). */
  tileUrl(name: string, path: string): string;
}

export function electronTransport(bridge: ElectronBridge): Transport {
  return {
    shell: 'electron',
    call: (method, params) => bridge.call(method, params),
    onEvent: (listener) => bridge.onEvent(listener),
    onConnection: (listener) => {
      listener('open');
      return () => {};
    },
    imageUrl: (name) => `studio://app/outputs/${encodeURIComponent(name)}`,
    tileUrl: (name, path) => `studio://app/tiles/${encodeURIComponent(name)}/${path}`,
  };
}

const LOST: CallOutcome = { ok: false, error: { code: 'failed', message: 'the connection to the studio was lost; it is reconnecting, try again in a moment' } };

/** A WebSocket to the page's own origin that reconnects after a drop (the server may restart). */
export function webSocketTransport(location: Location, token: string | null): Transport {
  const query = token ? `?token=${encodeURIComponent(token)}` : '';
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api${query}`;
  const pending = new Map<number, (o: CallOutcome) => void>();
  const outbox: string[] = [];
  const eventListeners = new Set<(event: string, data: unknown) => void>();
  const stateListeners = new Set<(state: ConnectionState) => void>();
  let socket: WebSocket;
  let nextId = 1;
  let retryMs = 250;

  const setState = (s: ConnectionState) => stateListeners.forEach((l) => l(s));

  function connect(): void {
    setState('connecting');
    socket = new WebSocket(url);
    socket.onopen = () => {
      retryMs = 250;
      setState('open');
      for (const m of outbox.splice(0)) socket.send(m);
    };
    socket.onmessage = (e) => {
      const m = JSON.parse(String(e.data)) as ServerMessage;
      if (m.type === 'event') eventListeners.forEach((l) => l(m.event, m.data));
      else {
        pending.get(m.id)?.(m.type === 'result' ? { ok: true, result: m.result } : { ok: false, error: m.error });
        pending.delete(m.id);
      }
    };
    socket.onclose = () => {
      for (const resolve of pending.values()) resolve(LOST);
      pending.clear();
      setState('lost');
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 4000);
    };
  }
  connect();

  return {
    shell: 'browser',
    call: (method, params) =>
      new Promise((resolve) => {
        const id = nextId++;
        pending.set(id, resolve);
        const text = JSON.stringify({ type: 'call', id, method, params });
        if (socket.readyState === WebSocket.OPEN) socket.send(text);
        else outbox.push(text);
      }),
    onEvent: (l) => {
      eventListeners.add(l);
      return () => eventListeners.delete(l);
    },
    onConnection: (l) => {
      stateListeners.add(l);
      return () => stateListeners.delete(l);
    },
    imageUrl: (name) => `/outputs/${encodeURIComponent(name)}${query}`,
    tileUrl: (name, path) => `/tiles/${encodeURIComponent(name)}/${path}${query}`,
  };
}
