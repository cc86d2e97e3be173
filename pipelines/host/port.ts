// The host's end of the channel to its client, whichever way the host was started:
// a worker_thread (`parentPort`), a Node child process (`process.send`), or an Electron
// utilityProcess (`process.parentPort`, whose messages arrive wrapped as `{ data }`).
import { parentPort } from 'node:worker_threads';
import type { HostMessage } from './protocol.ts';

export interface HostPort {
  readonly kind: 'worker' | 'child-process' | 'utility-process';
  post(message: HostMessage): void;
  onMessage(listener: (message: unknown) => void): void;
}

/** Electron's utilityProcess parent port, typed structurally so this module needs no Electron import. */
interface ElectronParentPort {
  on(event: 'message', listener: (e: { data: unknown }) => void): void;
  postMessage(message: unknown): void;
}

export function currentHostPort(): HostPort {
  if (parentPort) {
    const port = parentPort;
    return { kind: 'worker', post: (m) => port.postMessage(m), onMessage: (l) => port.on('message', l) };
  }
  const electron = (process as { parentPort?: ElectronParentPort }).parentPort;
  if (electron) {
    return { kind: 'utility-process', post: (m) => electron.postMessage(m), onMessage: (l) => electron.on('message', (e) => l(e.data)) };
  }
  if (process.send) {
    const send = process.send.bind(process);
    // An orphaned host would keep a GPU and gigabytes of weights: leave with the parent.
    process.on('disconnect', () => process.exit(0));
    // Ctrl-C in a terminal signals the whole process group: the client cancels or stops the host itself.
    process.on('SIGINT', () => {});
    return { kind: 'child-process', post: (m) => send(m), onMessage: (l) => process.on('message', l) };
  }
  throw new Error('the engine host must be started as a worker thread, a child process with an IPC channel, or an Electron utility process');
}
