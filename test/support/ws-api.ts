// The server API's call over a WebSocket, as the UI makes it: one request, the reply with its id.
import type { WebSocket } from 'ws';

export interface ApiReply {
  type: string;
  result?: unknown;
  error?: { code: string; message: string };
}

export function call(ws: WebSocket, method: string, params: unknown): Promise<ApiReply> {
  const id = Math.floor(Math.random() * 1e9);
  return new Promise((resolve) => {
    ws.on('message', function onMessage(raw) {
      const m = JSON.parse(raw.toString());
      if (m.id !== id) return;
      ws.off('message', onMessage);
      resolve(m);
    });
    ws.send(JSON.stringify({ type: 'call', id, method, params }));
  });
}
