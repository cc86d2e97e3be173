// One browser tab's WebSocket to the studio: calls in, results and events out, as JSON messages of
// the shapes in api.ts. Each connection gets every studio event.
import type { WebSocket } from 'ws';
import { CallMessageSchema, type ServerMessage } from '../../pipelines/jobs/api-studio.ts';
import { dispatchCall } from './dispatch.ts';
import type { Studio } from './studio.ts';

/** A client that does not read fast enough misses previews rather than piling up memory. */
const MAX_BUFFERED_FOR_PREVIEWS = 4 * 1024 * 1024;

export function bridgeSocket(socket: WebSocket, studio: Studio): void {
  const send = (m: ServerMessage) => {
    if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(m));
  };

  const unsubscribe = studio.on((event, data) => {
    if (event === 'progress' && socket.bufferedAmount > MAX_BUFFERED_FOR_PREVIEWS) {
      data = { ...(data as { jobId: string }), preview: undefined } as typeof data;
    }
    send({ type: 'event', event, data });
  });
  socket.on('close', unsubscribe);

  socket.on('message', (raw, isBinary) => {
    if (isBinary) return socket.close(1003, 'the studio API speaks JSON text messages');
    let json: unknown;
    try {
      json = JSON.parse(raw.toString());
    } catch {
      return socket.close(1007, 'a message was not valid JSON');
    }
    const call = CallMessageSchema.safeParse(json);
    if (!call.success) return socket.close(1008, 'a message was not an API call');
    const { id, method, params } = call.data;
    void dispatchCall(studio, method, params).then((outcome) =>
      send(outcome.ok ? { type: 'result', id, result: outcome.result } : { type: 'error', id, error: outcome.error }),
    );
  });
}
