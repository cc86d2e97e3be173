// Live fuzz targets against a real `studio serve`: raw WebSocket frames written after a real handshake
// (malformed, fragmented, oversized, reserved opcodes and RSV bits, unmasked, bad UTF-8, abrupt
// closes), and API messages sent as text over a real connection. After each input the server must
// still answer a fresh call; a server that exits is a crash, one that stops answering a hang.
import fc from 'fast-check';
import { connect, type Socket } from 'node:net';
import { WebSocket } from 'ws';
import { mutateBytes, type Rng } from './mutate.ts';
import { LiveStudio, ServerStalledError, within } from './live-studio.ts';
import type { FuzzTarget } from './fuzz-target.ts';

/** How long one input may take before the server counts as stalled (far above a normal answer). */
const DEADLINE_MS = 15_000;

export interface FrameSpec {
  fin: boolean;
  /** RSV1..3 as the top bits 0x40, 0x20, 0x10. */
  rsv: number;
  opcode: number;
  masked: boolean;
  payload: Uint8Array;
  /** A length to claim instead of the payload's (a lie, short or long). */
  declaredLength?: bigint;
}

/** One frame's bytes as RFC 6455 lays them out (length in the shortest form, or 64-bit when claimed). */
const join = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));

export function encodeFrame(f: FrameSpec): Uint8Array {
  const length = f.declaredLength ?? BigInt(f.payload.length);
  const maskBit = f.masked ? 0x80 : 0;
  const head = [(f.fin ? 0x80 : 0) | (f.rsv & 0x70) | (f.opcode & 0x0f)];
  if (length < 126n) head.push(maskBit | Number(length));
  else if (length < 65536n) head.push(maskBit | 126, Number(length >> 8n), Number(length & 0xffn));
  else {
    head.push(maskBit | 127);
    for (let i = 7; i >= 0; i--) head.push(Number((length >> BigInt(8 * i)) & 0xffn));
  }
  const key = [0x37, 0xfa, 0x21, 0x3d];
  const body = f.masked ? f.payload.map((b, i) => b ^ key[i % 4]) : f.payload;
  return join(Uint8Array.from(head), Uint8Array.from(f.masked ? key : []), body);
}

const text = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));
const frame = (opcode: number, payload: Uint8Array, o: Partial<FrameSpec> = {}): Uint8Array => encodeFrame({ fin: true, rsv: 0, masked: true, opcode, payload, ...o });

const infoCall = text(JSON.stringify({ type: 'call', id: 7, method: 'info', params: {} }));
const closePayload = (code: number, reason = ''): Uint8Array => join(Uint8Array.of(code >> 8, code & 0xff), text(reason));
const BAD_UTF8 = [Uint8Array.of(0xc3, 0x28), Uint8Array.of(0xed, 0xa0, 0x80), Uint8Array.of(0xf4, 0x90, 0x80, 0x80), Uint8Array.of(0xff), Uint8Array.of(0xe2, 0x82)];

const frameSeeds = (): Uint8Array[] => [
  frame(0x1, infoCall),
  // A text message in three fragments with a ping between them.
  join(frame(0x1, infoCall.subarray(0, 10), { fin: false }), frame(0x9, text('p')), frame(0x0, infoCall.subarray(10, 20), { fin: false }), frame(0x0, infoCall.subarray(20))),
  join(frame(0x9, text('ping')), frame(0xa, text('pong')), frame(0x8, closePayload(1000, 'bye'))),
  frame(0x2, Uint8Array.of(1, 2, 3)),
  // A UTF-8 character split across two fragments (valid), then one cut short (not).
  join(frame(0x1, Uint8Array.of(0x22, 0xe2, 0x82), { fin: false }), frame(0x0, Uint8Array.of(0xac, 0x22))),
  frame(0x1, join(text('"'), BAD_UTF8[0], text('"'))),
];

const OPCODES = [0x0, 0x1, 0x2, 0x8, 0x9, 0xa, 0x3, 0x7, 0xb, 0xf];
const LENGTH_LIES = [0n, 1n, 125n, 126n, 65535n, 65536n, 43n * 1024n * 1024n, 256n * 1024n * 1024n, (1n << 63n) - 1n, 1n << 63n, (1n << 64n) - 1n];

function randomFrame(rng: Rng): Uint8Array {
  const payloads = [infoCall, text('{}'), text('x'.repeat(rng.int(300))), closePayload(rng.pick([1000, 1001, 1005, 1006, 1015, 999, 4999, 5000, 0]), 'r'), rng.pick(BAD_UTF8), new Uint8Array(rng.int(200)).fill(rng.int(256))];
  return encodeFrame({
    fin: rng.chance(0.8),
    rsv: rng.chance(0.1) ? rng.pick([0x40, 0x20, 0x10, 0x70]) : 0,
    opcode: rng.pick(OPCODES),
    masked: rng.chance(0.9),
    payload: rng.pick(payloads),
    declaredLength: rng.chance(0.1) ? rng.pick(LENGTH_LIES) : undefined,
  });
}

/** Byte edits of the whole stream, or whole frames inserted, cut or repeated. */
function mutateFrames(rng: Rng, input: Uint8Array, seeds: readonly Uint8Array[]): Uint8Array {
  if (rng.chance(0.5)) return mutateBytes(rng, input, seeds, 256 * 1024);
  const at = rng.int(input.length + 1);
  const piece = rng.chance(0.7) ? randomFrame(rng) : rng.pick(seeds);
  return join(input.subarray(0, at), piece, input.subarray(rng.chance(0.3) ? Math.min(input.length, at + rng.int(16)) : at));
}

const frameArbitrary: fc.Arbitrary<Uint8Array> = fc
  .array(
    fc.record({
      fin: fc.boolean(),
      rsv: fc.constantFrom(0, 0, 0, 0x40, 0x20, 0x10),
      opcode: fc.integer({ min: 0, max: 15 }),
      masked: fc.boolean(),
      payload: fc.uint8Array({ maxLength: 200 }),
      declaredLength: fc.option(fc.constantFrom(...LENGTH_LIES), { nil: undefined }),
    }),
    { minLength: 1, maxLength: 5 },
  )
  .map((frames) => join(...frames.map(encodeFrame)));

/** A message of more than the server's 43 MiB limit, really sent (made once; rare, it is slow). */
let oversized: Uint8Array | undefined;
function oversizedMessage(): Uint8Array {
  oversized ??= encodeFrame({ fin: true, rsv: 0, opcode: 0x1, masked: true, payload: new Uint8Array(44 * 1024 * 1024).fill(0x20) });
  return oversized;
}

/** A TCP connection through the WebSocket handshake (token and Host as the UI sends them). */
function handshake(studio: LiveStudio): Promise<Socket> {
  return within(
    new Promise<Socket>((resolve, reject) => {
      const socket = connect(studio.port, '127.0.0.1');
      let head = '';
      const onData = (d: Buffer): void => {
        head += d.toString('latin1');
        if (!head.includes('\r\n\r\n')) return;
        socket.off('data', onData);
        if (head.startsWith('HTTP/1.1 101')) resolve(socket);
        else reject(new Error(`the handshake was refused: ${head.split('\r\n')[0]}`));
      };
      socket.on('data', onData);
      socket.on('error', reject);
      socket.write(
        `GET /api?token=${studio.token} HTTP/1.1\r\nHost: 127.0.0.1:${studio.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
    }),
    DEADLINE_MS,
    'complete a WebSocket handshake',
  );
}

/** The parts of a live target that are the same for frames and messages: the server's life cycle. */
function liveTarget<T>(base: Omit<FuzzTarget<T>, 'run' | 'expected' | 'start' | 'stop'>, send: (studio: LiveStudio, input: T) => Promise<void>): FuzzTarget<T> {
  const studio = new LiveStudio();
  return {
    ...base,
    live: true,
    serverPeakRssMiB: () => studio.peakRssMiB,
    start: () => studio.start(),
    stop: () => studio.stop(),
    run: async (input) => {
      await studio.checkAlive();
      await send(studio, input);
      await studio.canary(DEADLINE_MS);
    },
    // A stall is counted by its time (a hang), not as a crash.
    expected: (e) => e instanceof ServerStalledError,
  };
}

export const wsFrameTarget = liveTarget<Uint8Array>(
  { name: 'WebSocket frames (live server)', seeds: frameSeeds, arbitrary: frameArbitrary, mutate: (rng, input, seeds) => (rng.chance(0.0002) ? oversizedMessage() : mutateFrames(rng, input, seeds)) },
  async (studio, bytes) => {
    const socket = await handshake(studio);
    socket.on('error', () => {});
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.write(bytes);
    // How the client leaves is part of the input: half-close, reset, or stay until the canary answers.
    const how = bytes.length % 3;
    if (how === 0) socket.end();
    else if (how === 1) socket.resetAndDestroy();
    else {
      await studio.canary(DEADLINE_MS);
      socket.destroy();
    }
    await within(closed, DEADLINE_MS, 'close a connection the client left');
  },
);

/** API messages (the message target's inputs) as text frames on a real connection; queued jobs are cancelled. */
export function wsLiveMessageTarget(base: FuzzTarget<string>): FuzzTarget<string> {
  let ws: WebSocket | undefined;
  return liveTarget<string>({ name: 'WebSocket API message (live server)', seeds: base.seeds, arbitrary: base.arbitrary, mutate: base.mutate }, async (studio, message) => {
    if (ws?.readyState !== WebSocket.OPEN) {
      ws = await studio.connect();
      const socket = ws;
      socket.on('error', () => {});
      // Keep the queue short: every job a fuzz call queued is cancelled as soon as its id comes back.
      socket.on('message', (raw) => {
        const m = JSON.parse(raw.toString()) as { type?: string; result?: { jobId?: unknown } };
        if (m.type === 'result' && typeof m.result?.jobId === 'string') socket.send(JSON.stringify({ type: 'call', id: -1, method: 'cancel', params: { jobId: m.result.jobId } }));
      });
    }
    ws.send(message);
  });
}
