// Loaded with --import into a Node child process, this gives it the view an Electron utilityProcess has
// of its parent (`process.parentPort`, messages wrapped as { data }), so the engine host's
// utility-process path and the desktop app's launcher are tested without the Electron binary.
type Listener = (e: { data: unknown }) => void;

const send = process.send?.bind(process);
if (!send) throw new Error('electron-parent-port.ts must be loaded into a child process with an IPC channel');

Object.defineProperty(process, 'parentPort', {
  value: {
    on: (_event: 'message', listener: Listener) => process.on('message', (data) => listener({ data })),
    postMessage: (message: unknown) => send(message),
  },
});
